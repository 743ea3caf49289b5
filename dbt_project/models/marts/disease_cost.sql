-- 病种费用 (tender 004 医疗服务: cost by disease and the top diseases): per settlement year x pooling region (the
-- treating institution's; 'ALL' = the province) x main diagnosis, counted settlements only (D15).  The main
-- diagnosis is the settlement list's main_dise_codg (contract section 6) when delivered, else the settlement's
-- dise_codg.  rank_by_cost orders the diagnoses of a region and year by total cost (ties by code); is_top_n marks
-- the first disease_top_n.
with s as (
    select cast(substring(i.ym, 1, 4) as int) as year, coalesce(i.region, 'UNKNOWN') as region,
           coalesce(l.main_dise_codg, i.dise_codg, 'UNKNOWN') as dise_codg, i.is_inpatient,
           i.medfee_sumamt, i.hifp_pay, i.psn_cash_pay
    from {{ ref('int_settlement') }} i
    left join {{ ref('stg_medins__setl_list') }} l on l.setl_id = i.setl_id
    where i.ym is not null
),
g as (
    {% for rg in ['region', "'ALL'"] %}
    select year, {{ rg }} as region, dise_codg,
           count(*) as settlements, count_if(is_inpatient) as inpatient_cases,
           sum(medfee_sumamt) as medfee_sumamt, sum(hifp_pay) as hifp_pay, sum(psn_cash_pay) as psn_cash_pay
    from s group by 1, 2, 3
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
k as (
    select g.*, row_number() over (partition by year, region order by medfee_sumamt desc, dise_codg) as rank_by_cost,
           cast(medfee_sumamt as double) / sum(cast(medfee_sumamt as double)) over (partition by year, region) as cost_share
    from g
)
select k.year, k.region, {{ region_name('k.region', 'd.name') }} as region_name, k.dise_codg,
       k.settlements, k.inpatient_cases, k.medfee_sumamt, k.hifp_pay, k.psn_cash_pay,
       cast(k.medfee_sumamt as double) / nullif(k.settlements, 0) as cost_per_settlement,
       k.cost_share, cast(k.rank_by_cost as int) as rank_by_cost, k.rank_by_cost <= {{ var('disease_top_n') }} as is_top_n
from k
left join {{ ref('gbt2260_divisions') }} d on d.code = k.region
