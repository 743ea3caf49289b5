-- Each person's situation on the reference date: target population, insured, and the evidence behind
-- every uninsured reason code (data-contract.md section 4).
with pm as (select * from {{ ref('person_master') }}),
rec as (
    select c.person_id, r.*
    from {{ ref('int_person_records') }} r join {{ ref('int_person_clusters') }} c on c.record_id = r.record_id
),
enr as (
    select person_id,
           bool_or(is_basic and in_region and is_active)                   as insured_local,
           bool_or(is_basic and in_region and psn_insu_stas = '2')         as has_suspended,
           bool_or(is_basic and in_region and psn_insu_stas = '4')         as has_terminated,
           bool_or(is_basic and in_region)                                 as has_basic_record,
           min(case when is_basic and in_region and is_active then crt_insu_date end) as first_active_since,
           max(case when is_basic and in_region and is_active then crt_insu_date end) as last_active_since
    from {{ ref('int_person_enrollment') }}
    where person_id is not null
    group by person_id
),
elsewhere as (
    select cp.person_id, true as insured_elsewhere
    from {{ ref('stg_national__insured_elsewhere') }} e
    join {{ ref('int_certno_person') }} cp on cp.certno_norm = e.certno_norm
    where coalesce(e.psn_insu_stas, '1') = '1' and coalesce(e.insutype, {{ insutype_resident() }}) in {{ basic_insutypes() }}
    group by cp.person_id
),
tax as (
    select cp.person_id, true as taxpayer_recent
    from {{ ref('stg_tax__taxpayer') }} t
    join {{ ref('int_certno_person') }} cp on cp.certno_norm = t.certno_norm
    where t.last_tax_ym >= {{ ref_ym(var('taxpayer_months')) }} and t.last_tax_ym <= {{ ref_ym(0) }}
    group by cp.person_id
),
pension as (
    select cp.person_id, true as pension_insured
    from {{ ref('stg_hrss__pension_insu') }} p
    join {{ ref('int_certno_person') }} cp on cp.certno_norm = p.certno_norm
    where p.stas in ('1', '2')
    group by cp.person_id
),
aid as (
    select cp.person_id, true as subsidy_eligible, min(a.aid_type) as aid_type
    from {{ ref('stg_civil_affairs__assistance_obj') }} a
    join {{ ref('int_certno_person') }} cp on cp.certno_norm = a.certno_norm
    where a.is_active_on_ref
    group by cp.person_id
),
nat as (
    select cp.person_id, true as in_national_list, min(n.issue_batch) as issue_batch
    from {{ ref('stg_national__national_uninsured') }} n
    join {{ ref('int_certno_person') }} cp on cp.certno_norm = n.certno_norm
    group by cp.person_id
),
base as (
    select pm.*,
           (pm.hsreg_stas = '1' and {{ in_region('pm.hsreg_admdvs') }})          as has_local_hukou,
           (pm.has_valid_resd_permit and {{ in_region('pm.resd_admdvs') }})       as has_local_permit,
           cast(floor(months_between({{ ref_date() }}, pm.brdy) / 12) as int)    as age
    from pm
)
select b.person_id, b.certno, b.psn_name, b.gend, b.brdy, b.age,
       b.hsreg_admdvs, b.resd_admdvs, b.is_deceased, b.death_date, b.hsreg_stas,
       b.has_local_hukou, b.has_local_permit,
       case when b.has_local_hukou then b.hsreg_admdvs when b.has_local_permit then b.resd_admdvs end as admdvs,
       (not b.is_deceased and (b.has_local_hukou or coalesce(b.has_local_permit, false)))  as in_target,
       coalesce(e.insured_local, false)        as insured_local,
       coalesce(x.insured_elsewhere, false)    as insured_elsewhere,
       coalesce(e.insured_local, false) or coalesce(x.insured_elsewhere, false) as insured,
       coalesce(e.has_suspended, false)        as has_suspended,
       coalesce(e.has_terminated, false)       as has_terminated,
       coalesce(e.has_basic_record, false)     as has_basic_record,
       e.first_active_since, e.last_active_since,
       coalesce(t.taxpayer_recent, false)      as taxpayer_recent,
       coalesce(p.pension_insured, false)      as pension_insured,
       coalesce(a.subsidy_eligible, false)     as subsidy_eligible,
       a.aid_type,
       (b.brdy > add_months({{ ref_date() }}, -{{ var('newborn_months') }}) and b.brdy <= {{ ref_date() }}) as is_newborn,
       coalesce(n.in_national_list, false)     as in_national_list,
       n.issue_batch
from base b
left join enr e on e.person_id = b.person_id
left join elsewhere x on x.person_id = b.person_id
left join tax t on t.person_id = b.person_id
left join pension p on p.person_id = b.person_id
left join aid a on a.person_id = b.person_id
left join nat n on n.person_id = b.person_id
