-- 重复参保 (data-contract.md section 4, duplicate_enrollment.kind): one row per person and kind.  Choices the
-- contract left open: dbt_project/README.md, "Definitions" (D8).
--   EMP_RESIDENT   active 310 and active 390 in the region at once (any psn_no of the person);
--   MULTI_REGION   the same basic insutype active in two or more pooling regions (统筹区) of the province;
--   CROSS_PROVINCE an active basic enrollment in the region while national.insured_elsewhere shows an active
--                  (psn_insu_stas 1 or empty) 310/390 enrollment outside the province (insu_admdvs not
--                  region_province*; an empty insu_admdvs counts as outside: the list is of other provinces).
-- Active = psn_insu_stas 1 (int_person_enrollment.is_active), the status the coverage definition uses; the person
-- need not be in the target population (a deceased or moved-out person's double enrollment still has to be
-- cleared).  insu_admdvs_list lists every division involved (for CROSS_PROVINCE the other province's too);
-- local_admdvs_list only this province's (what the dashboards attribute the row to).
with act as (
    select person_id, psn_no, insutype, insu_pool, insu_admdvs
    from {{ ref('int_person_enrollment') }}
    where is_basic and in_region and is_active and person_id is not null
),
elsewhere as (
    select cp.person_id,
           array_sort(collect_set(e.insutype)) as insutypes,
           array_sort(collect_set(e.insu_admdvs)) as admdvs
    from {{ ref('stg_national__insured_elsewhere') }} e
    join {{ ref('int_certno_person') }} cp on cp.certno_norm = e.certno_norm
    where coalesce(e.psn_insu_stas, '1') = '1' and e.insutype in {{ basic_insutypes() }}
      and (e.insu_admdvs is null or not {{ in_region('e.insu_admdvs') }})
    group by cp.person_id
),
-- local enrollments per person x insutype, kept for persons with two or more of them (a few percent of
-- everyone) or a record elsewhere: every later aggregate runs on those rows only.  The count is a window (a
-- sort, which spills) rather than a join to a per-person count (a hash table of every person: Sail's hash joins
-- cannot spill); the join to elsewhere builds on the small national list.
per_type as (
    select a.person_id, a.insutype,
           count(distinct a.insu_pool) as n_pools,
           collect_set(a.insu_admdvs) as admdvs,
           collect_set(a.psn_no) as psn_nos
    from (select act.*, count(*) over (partition by person_id) as n from act) a
    left join elsewhere x on x.person_id = a.person_id
    where a.n > 1 or x.person_id is not null
    group by a.person_id, a.insutype
),
per_person as (
    select p.person_id,
           count(*) as n_types,
           array_sort(collect_list(p.insutype)) as types,
           array_sort(array_distinct(flatten(collect_list(p.admdvs)))) as admdvs,
           array_sort(array_distinct(flatten(collect_list(p.psn_nos)))) as psn_nos,
           array_sort(collect_list(case when p.n_pools > 1 then p.insutype end)) as mr_types,
           array_sort(array_distinct(flatten(collect_list(case when p.n_pools > 1 then p.admdvs end)))) as mr_admdvs
    from per_type p
    group by p.person_id
),
kinds as (
    select p.*, x.insutypes as x_types, x.admdvs as x_admdvs,
           explode(filter(array(case when p.n_types > 1 then 'EMP_RESIDENT' end,
                                case when size(p.mr_types) > 0 then 'MULTI_REGION' end,
                                case when x.person_id is not null then 'CROSS_PROVINCE' end),
                          k -> k is not null)) as kind
    from per_person p
    left join elsewhere x on x.person_id = p.person_id
)
select person_id,
       array_join(case kind when 'MULTI_REGION' then mr_types
                            when 'CROSS_PROVINCE' then array_sort(array_distinct(concat(types, x_types)))
                            else types end, ',') as insutypes,
       array_join(case kind when 'MULTI_REGION' then mr_admdvs
                            when 'CROSS_PROVINCE' then array_sort(array_distinct(concat(admdvs, x_admdvs)))
                            else admdvs end, ',') as insu_admdvs_list,
       kind,
       array_join(case kind when 'MULTI_REGION' then mr_admdvs else admdvs end, ',') as local_admdvs_list,
       case when kind = 'CROSS_PROVINCE' then nullif(array_join(x_admdvs, ','), '') end as elsewhere_admdvs_list,
       array_join(psn_nos, ',') as psn_nos
from kinds
