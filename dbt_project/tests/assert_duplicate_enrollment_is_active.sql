-- Duplicates are built from active enrollments only (data-contract.md section 4, duplicate_enrollment.kind;
-- dbt_project/README.md Definitions D8):
--   EMP_RESIDENT: the person has an active 310 and an active 390 in the region;
--   MULTI_REGION: one basic insutype is active in two or more pooling regions of the province;
--   CROSS_PROVINCE: an active basic enrollment in the region and an active 310/390 entry in insured_elsewhere
--   outside the province.
-- Any row returned breaks the definition.  Only the listed persons' enrollments are read (a small set).
with dp as (
    select distinct person_id from {{ ref('duplicate_enrollment') }}
),
enr as (
    select e.person_id, e.insutype, e.insu_pool
    from {{ ref('int_person_enrollment') }} e join dp on dp.person_id = e.person_id
    where e.is_basic and e.in_region and e.is_active
),
act as (
    select person_id,
           max(case when insutype = {{ insutype_employee() }} then 1 else 0 end) as has_310,
           max(case when insutype = {{ insutype_resident() }} then 1 else 0 end) as has_390
    from enr group by person_id
),
pools as (
    select person_id, max(n_pools) as max_pools
    from (select person_id, insutype, count(distinct insu_pool) as n_pools from enr group by person_id, insutype) p
    group by person_id
),
elsewhere as (
    select distinct cp.person_id
    from {{ ref('stg_national__insured_elsewhere') }} e
    join {{ ref('int_certno_person') }} cp on cp.certno_norm = e.certno_norm
    where coalesce(e.psn_insu_stas, '1') = '1' and e.insutype in {{ basic_insutypes() }}
      and (e.insu_admdvs is null or not {{ in_region('e.insu_admdvs') }})
)
select d.person_id, d.kind
from {{ ref('duplicate_enrollment') }} d
left join act a on a.person_id = d.person_id
left join pools p on p.person_id = d.person_id
left join elsewhere x on x.person_id = d.person_id
where a.person_id is null
   or (d.kind = 'EMP_RESIDENT' and not (a.has_310 = 1 and a.has_390 = 1))
   or (d.kind = 'MULTI_REGION' and coalesce(p.max_pools, 0) < 2)
   or (d.kind = 'CROSS_PROVINCE' and x.person_id is null)
