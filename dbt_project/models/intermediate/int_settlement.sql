-- Settlements that count (reversed ones, refd_setl_flag = 1, excluded) with the person, the institution's
-- level and pooling region, and the inpatient readmission flag (next admission of the same person at any
-- institution within readmission_days of this discharge).
with s as (
    select s.*,
           coalesce(c.person_id, cp.person_id) as person_id,
           ip.code is not null as is_inpatient
    from {{ ref('stg_medins__setl') }} s
    left join (select code from {{ ref('code_list') }} where code_type = 'inpatient_med_type') ip on ip.code = s.med_type
    left join {{ ref('int_person_clusters') }} c on c.record_id = concat('medins:psn_info:', s.psn_no)
    left join {{ ref('int_certno_person') }} cp on cp.certno_norm = s.certno_norm
    where s.refd_setl_flag <> '1'
),
inp as (
    select setl_id,
           lead(begndate) over (partition by person_id order by begndate, enddate, setl_id) as next_admission
    from s where is_inpatient and person_id is not null
)
select s.setl_id, s.mdtrt_id, s.psn_no, s.person_id, s.insutype, s.med_type, s.is_inpatient,
       s.fixmedins_code, f.fixmedins_type, coalesce(f.hosp_lv, '9') as hosp_lv,
       f.admdvs as fixmedins_admdvs, s.insu_admdvs, s.mdtrt_admdvs, s.dise_codg,
       coalesce(f.pooling_region, d.pooling_region, s.mdtrt_admdvs) as region,
       s.begndate, s.enddate, s.setl_time,
       date_format(coalesce(s.setl_time, cast(s.enddate as timestamp)), 'yyyyMM') as ym,
       case when s.is_inpatient then greatest(datediff(s.enddate, s.begndate), 1) end as los_days,
       s.medfee_sumamt, s.fulamt_ownpay_amt, s.hifp_pay, s.acct_pay, s.psn_cash_pay,
       (s.is_inpatient and i.next_admission is not null
        and datediff(i.next_admission, s.enddate) between 0 and {{ var('readmission_days') }}) as readmitted
from s
left join inp i on i.setl_id = s.setl_id
left join {{ ref('stg_medins__fixmedins') }} f on f.fixmedins_code = s.fixmedins_code
left join {{ ref('gbt2260_divisions') }} d on d.code = s.mdtrt_admdvs
