-- 重复参保: persons with more than one active basic enrollment at the same time.
--   SCHEME: active in both 310 (employees) and 390 (residents);
--   REGION: active in one scheme in two pooling regions (统筹区) of the province;
--   SCHEME|REGION: both.  Enrollments under different psn_no of one person count together.
with act as (
    select person_id, insutype, insu_pool, insu_admdvs, psn_no
    from {{ ref('int_person_enrollment') }}
    where is_basic and in_region and is_active and person_id is not null
),
-- only persons with two or more active enrollments can be duplicates (a few percent of everyone): the
-- distinct counts and sets below then run on those rows only
multi as (
    select a.* from act a
    join (select person_id from act group by person_id having count(*) > 1) m on m.person_id = a.person_id
),
per_type as (
    select person_id, insutype, count(distinct insu_pool) as n_pools from multi group by person_id, insutype
),
agg as (
    select a.person_id,
           count(distinct a.insutype) as n_types,
           max(pt.n_pools) as max_pools,
           array_join(array_sort(collect_set(a.insutype)), ',') as insutypes,
           array_join(array_sort(collect_set(a.insu_admdvs)), ',') as insu_admdvs_list,
           array_join(array_sort(collect_set(a.psn_no)), ',') as psn_nos
    from multi a join per_type pt on pt.person_id = a.person_id and pt.insutype = a.insutype
    group by a.person_id
)
select person_id, insutypes, insu_admdvs_list,
       concat_ws('|', case when n_types > 1 then 'SCHEME' end, case when max_pools > 1 then 'REGION' end) as kind,
       psn_nos
from agg
where n_types > 1 or max_pools > 1
