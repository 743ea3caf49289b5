-- 集采约定采购量完成情况 (contract section 6): per institution x item x agreement year (calendar year of ym) of
-- vbp_purchase.
--   agreed_qty       the year's agreed annual quantity (max over its rows)
--   purc_qty         sum of the year's purchases; completion_rate = purc_qty / agreed_qty
--   months           distinct months delivered that year; expected_rate = months / 12
--   progress         completion_rate / expected_rate; is_under when progress < vbp_min_progress
with y as (
    select fixmedins_code, med_list_codg, year,
           max(agreed_qty) as agreed_qty, sum(purc_qty) as purc_qty, sum(purc_amt) as purc_amt,
           count(distinct ym) as months
    from {{ ref('stg_medins__vbp_purchase') }}
    group by fixmedins_code, med_list_codg, year
),
r as (
    select y.*, cast(purc_qty as double) / nullif(cast(agreed_qty as double), 0) as completion_rate,
           cast(months as double) / 12 as expected_rate
    from y
),
k as (
    select r.*, r.completion_rate / nullif(r.expected_rate, 0) as progress from r
)
select k.fixmedins_code, f.fixmedins_name, f.pooling_region as admdvs, k.year, k.med_list_codg, m.list_name,
       k.agreed_qty, k.purc_qty, cast(k.purc_amt as decimal(26, 2)) as purc_amt,
       k.completion_rate, k.months, k.expected_rate, k.progress,
       coalesce(k.progress < {{ var('vbp_min_progress') }}, false) as is_under
from k
left join {{ ref('stg_medins__fixmedins') }} f on f.fixmedins_code = k.fixmedins_code
left join {{ ref('stg_medins__med_list') }} m on m.med_list_codg = k.med_list_codg
