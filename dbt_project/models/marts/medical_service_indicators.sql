-- 医疗服务指标 by hospital level x pooling region x month, with roll-ups ('ALL') over level and region.
--   cost_per_case         inpatient medical cost / inpatient cases (次均住院费用)
--   cost_per_visit        outpatient and pharmacy cost / visits (次均门诊费用)
--   fund_payment_ratio    pooled-fund payment (hifp_pay) / total cost (基金支付比例)
--   oop_ratio             personal cash payment (psn_cash_pay) / total cost (个人自付比例)
--   avg_los               average length of stay of inpatient cases, days (平均住院日)
--   readmission_15d_rate  inpatient cases followed by another admission of the person within 15 days
--   *_yoy / *_mom         relative change against the same month last year / the previous month
-- Reversed settlements (refd_setl_flag = 1) do not count.
with base as (
    select coalesce(hosp_lv, '9') as hosp_lv, coalesce(region, 'UNKNOWN') as region, ym, is_inpatient,
           medfee_sumamt, hifp_pay, psn_cash_pay, los_days, readmitted
    from {{ ref('int_settlement') }}
    where ym is not null
),
g as (
    {% for lv, rg in [('hosp_lv', 'region'), ("'ALL'", 'region'), ('hosp_lv', "'ALL'"), ("'ALL'", "'ALL'")] %}
    select {{ lv }} as hosp_lv, {{ rg }} as region, ym,
           count(*) as settlements,
           count_if(is_inpatient) as inpatient_cases,
           count_if(not is_inpatient) as outpatient_visits,
           sum(medfee_sumamt) as medfee_sumamt,
           sum(hifp_pay) as hifp_pay,
           sum(psn_cash_pay) as psn_cash_pay,
           sum(case when is_inpatient then medfee_sumamt end) as inpatient_cost,
           sum(case when not is_inpatient then medfee_sumamt end) as outpatient_cost,
           sum(los_days) as los_days,
           count_if(readmitted) as readmissions_15d
    from base group by 1, 2, 3
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
k as (
    select g.*,
           cast(inpatient_cost / nullif(inpatient_cases, 0) as double) as cost_per_case,
           cast(outpatient_cost / nullif(outpatient_visits, 0) as double) as cost_per_visit,
           cast(hifp_pay / nullif(medfee_sumamt, 0) as double) as fund_payment_ratio,
           cast(psn_cash_pay / nullif(medfee_sumamt, 0) as double) as oop_ratio,
           cast(los_days / nullif(inpatient_cases, 0) as double) as avg_los,
           cast(readmissions_15d / nullif(inpatient_cases, 0) as double) as readmission_15d_rate,
           date_format(add_months(to_date(concat(ym, '01'), 'yyyyMMdd'), -1), 'yyyyMM') as ym_prev_month,
           date_format(add_months(to_date(concat(ym, '01'), 'yyyyMMdd'), -12), 'yyyyMM') as ym_prev_year
    from g
)
select k.hosp_lv, k.region, k.ym,
       k.settlements, k.inpatient_cases, k.outpatient_visits, k.medfee_sumamt, k.hifp_pay, k.psn_cash_pay,
       k.cost_per_case, k.cost_per_visit, k.fund_payment_ratio, k.oop_ratio, k.avg_los, k.readmission_15d_rate,
       k.cost_per_case / nullif(m.cost_per_case, 0) - 1          as cost_per_case_mom,
       k.cost_per_case / nullif(y.cost_per_case, 0) - 1          as cost_per_case_yoy,
       k.cost_per_visit / nullif(m.cost_per_visit, 0) - 1        as cost_per_visit_mom,
       k.cost_per_visit / nullif(y.cost_per_visit, 0) - 1        as cost_per_visit_yoy,
       k.fund_payment_ratio - m.fund_payment_ratio               as fund_payment_ratio_mom,
       k.fund_payment_ratio - y.fund_payment_ratio               as fund_payment_ratio_yoy,
       k.avg_los - m.avg_los                                     as avg_los_mom,
       k.avg_los - y.avg_los                                     as avg_los_yoy,
       cast(k.inpatient_cases as double) / nullif(m.inpatient_cases, 0) - 1 as inpatient_cases_mom,
       cast(k.inpatient_cases as double) / nullif(y.inpatient_cases, 0) - 1 as inpatient_cases_yoy
from k
left join k m on m.hosp_lv = k.hosp_lv and m.region = k.region and m.ym = k.ym_prev_month
left join k y on y.hosp_lv = k.hosp_lv and y.region = k.region and y.ym = k.ym_prev_year
