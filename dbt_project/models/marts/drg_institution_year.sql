-- DRG 机构年度指标 (contract section 6): per institution x year, over its DRG cases (drg_case rows with a
-- drg_codg).  Definitions in _marts_reform.yml:
--   cmi          病例组合指数 = sum of RW / cases with a weight
--   cost_index   费用消耗指数 = sum_g n_ig * (avg cost of the institution in g / avg cost of its region in g) / sum_g n_ig
--   time_index   时间消耗指数, likewise with ipt_days (cases with ipt_days)
-- Region averages are the means of the pooling region's cases of the group and year (not drg_group's averages).
with c as (
    select * from {{ ref('drg_case') }} where drg_codg is not null
),
region_g as (
    select admdvs, year, drg_codg, avg(cast(medfee_sumamt as double)) as r_cost, avg(cast(ipt_days as double)) as r_days
    from c group by admdvs, year, drg_codg
),
inst_g as (
    select fixmedins_code, admdvs, year, drg_codg,
           count(*) as n, avg(cast(medfee_sumamt as double)) as i_cost,
           count(ipt_days) as n_days, avg(cast(ipt_days as double)) as i_days
    from c group by fixmedins_code, admdvs, year, drg_codg
),
idx as (
    select i.fixmedins_code, i.admdvs, i.year,
           sum(i.n * (i.i_cost / nullif(r.r_cost, 0))) / nullif(sum(case when r.r_cost <> 0 then i.n end), 0)
               as cost_index,
           sum(i.n_days * (i.i_days / nullif(r.r_days, 0)))
               / nullif(sum(case when r.r_days <> 0 then i.n_days end), 0) as time_index
    from inst_g i
    join region_g r on r.admdvs <=> i.admdvs and r.year = i.year and r.drg_codg = i.drg_codg
    group by i.fixmedins_code, i.admdvs, i.year
),
agg as (
    select fixmedins_code, admdvs, year,
           count(*) as cases,
           count(weight) as cases_with_weight,
           sum(weight) as total_weight,
           count_if(outlier = '高倍率') as high_outlier_cases,
           count_if(outlier = '低倍率') as low_outlier_cases,
           count_if(is_upcoding_suspect) as upcoding_cases,
           cast(sum(medfee_sumamt) as decimal(26, 2)) as medfee_sumamt
    from c group by fixmedins_code, admdvs, year
)
select a.fixmedins_code, f.fixmedins_name, a.admdvs, a.year, a.cases, a.cases_with_weight,
       a.total_weight, a.total_weight / nullif(a.cases_with_weight, 0) as cmi,
       x.cost_index, x.time_index,
       a.high_outlier_cases, a.low_outlier_cases, a.upcoding_cases, a.medfee_sumamt
from agg a
left join idx x on x.fixmedins_code <=> a.fixmedins_code and x.admdvs <=> a.admdvs and x.year = a.year
left join {{ ref('stg_medins__fixmedins') }} f on f.fixmedins_code = a.fixmedins_code
