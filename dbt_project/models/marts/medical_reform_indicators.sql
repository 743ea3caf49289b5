-- 医疗服务与医改督查指标 (tender 004 医疗服务 / 医改督查): per settlement month x pooling region (the treating
-- institution's; 'ALL' = the province), counted settlements only (D15):
--   primary_visit_share        基层就诊率: outpatient visits at medical institutions (fixmedins_type 1) of a primary
--                              level (code_list primary_hosp_lv: 一级, 未定级) / all their outpatient visits
--   outpatient_discharge_ratio 门诊人次与出院人次比: outpatient visits at medical institutions / inpatient cases
--   inpatient_policy_ratio     住院政策范围内报销比例: inpatient hifp_pay / (medfee_sumamt - fulamt_ownpay_amt); the
--                              contract has no 先行自付 column, so the in-policy cost is the cost less the fully
--                              self-paid part
--   in_county_admission_rate   县域内住院率: inpatient cases of the region's residents (int_person_status.admdvs, the
--                              hukou else the residence permit division) treated at an institution of their own
--                              county / all their inpatient cases; by the residents' pooling region
--   chronic_*                  门诊慢特病 (code_list chronic_med_type): visits, cost, fund paid
--   maternity_*                生育 (code_list maternity_med_type): cases, cost, fund paid
with s as (
    select i.ym, coalesce(i.region, 'UNKNOWN') as region, i.person_id, i.is_inpatient, i.fixmedins_type, i.hosp_lv,
           i.med_type, i.fixmedins_admdvs, i.medfee_sumamt, i.fulamt_ownpay_amt, i.hifp_pay,
           pl.code is not null as is_primary, ch.code is not null as is_chronic, mt.code is not null as is_maternity
    from {{ ref('int_settlement') }} i
    left join (select code from {{ ref('code_list') }} where code_type = 'primary_hosp_lv') pl on pl.code = i.hosp_lv
    left join (select code from {{ ref('code_list') }} where code_type = 'chronic_med_type') ch on ch.code = i.med_type
    left join (select code from {{ ref('code_list') }} where code_type = 'maternity_med_type') mt on mt.code = i.med_type
    where i.ym is not null
),
svc as (
    {% for rg in ['region', "'ALL'"] %}
    select ym, {{ rg }} as region,
           count_if(not is_inpatient and fixmedins_type = '1') as outpatient_visits,
           count_if(not is_inpatient and fixmedins_type = '1' and is_primary) as primary_visits,
           count_if(is_inpatient) as inpatient_cases,
           sum(case when is_inpatient then hifp_pay end) as inpatient_hifp_pay,
           sum(case when is_inpatient then medfee_sumamt - coalesce(fulamt_ownpay_amt, 0) end) as inpatient_policy_cost,
           count_if(is_chronic) as chronic_visits,
           sum(case when is_chronic then medfee_sumamt end) as chronic_medfee,
           sum(case when is_chronic then hifp_pay end) as chronic_hifp_pay,
           count_if(is_maternity) as maternity_cases,
           sum(case when is_maternity then medfee_sumamt end) as maternity_medfee,
           sum(case when is_maternity then hifp_pay end) as maternity_hifp_pay
    from s group by 1, 2
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
res as (   -- the inpatient cases of residents, by where they live
    select s.ym, coalesce(dp.pooling_region, 'UNKNOWN') as region,
           coalesce(dp.county_code, p.admdvs) = di.county_code as in_county
    from s
    join {{ ref('int_person_status') }} p on p.person_id = s.person_id
    left join {{ ref('gbt2260_divisions') }} dp on dp.code = p.admdvs
    left join {{ ref('gbt2260_divisions') }} di on di.code = s.fixmedins_admdvs
    where s.is_inpatient and p.admdvs is not null
),
cnty as (
    {% for rg in ['region', "'ALL'"] %}
    select ym, {{ rg }} as region, count(*) as resident_inpatient_cases,
           count_if(coalesce(in_county, false)) as in_county_cases
    from res group by 1, 2
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)
select coalesce(v.ym, c.ym) as ym, coalesce(v.region, c.region) as region,
       {{ region_name('coalesce(v.region, c.region)', 'd.name') }} as region_name,
       coalesce(v.outpatient_visits, 0) as outpatient_visits, coalesce(v.primary_visits, 0) as primary_visits,
       cast(v.primary_visits as double) / nullif(v.outpatient_visits, 0) as primary_visit_share,
       coalesce(v.inpatient_cases, 0) as inpatient_cases,
       cast(v.outpatient_visits as double) / nullif(v.inpatient_cases, 0) as outpatient_discharge_ratio,
       v.inpatient_hifp_pay, v.inpatient_policy_cost,
       cast(v.inpatient_hifp_pay as double) / nullif(cast(v.inpatient_policy_cost as double), 0) as inpatient_policy_ratio,
       coalesce(c.resident_inpatient_cases, 0) as resident_inpatient_cases,
       coalesce(c.in_county_cases, 0) as in_county_cases,
       cast(c.in_county_cases as double) / nullif(c.resident_inpatient_cases, 0) as in_county_admission_rate,
       coalesce(v.chronic_visits, 0) as chronic_visits, v.chronic_medfee, v.chronic_hifp_pay,
       coalesce(v.maternity_cases, 0) as maternity_cases, v.maternity_medfee, v.maternity_hifp_pay
from svc v
full outer join cnty c on c.ym = v.ym and c.region = v.region
left join {{ ref('gbt2260_divisions') }} d on d.code = coalesce(v.region, c.region)
