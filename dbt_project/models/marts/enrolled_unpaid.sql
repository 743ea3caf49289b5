-- 已参保未缴费: active basic enrollments (person x insutype) with assessed contribution months that
-- the core system has not received (contrib.clct_flag = 0).  accrym_missing lists those months
-- (comma list, ascending); tax_collected_months says how many of them tax nevertheless collected
-- (see contrib_reconciliation).
with act as (
    select person_id, psn_no, insutype, insu_admdvs
    from {{ ref('int_person_enrollment') }}
    where is_basic and psn_insu_stas = '1'
),
unpaid as (
    select c.psn_no, c.insutype, c.accrym
    from {{ ref('stg_medins__contrib') }} c
    where c.clct_flag = '0'
),
tax as (
    select cp.person_id, t.insutype, t.accrym
    from {{ ref('stg_tax__medins_clct') }} t join {{ ref('int_certno_person') }} cp on cp.certno_norm = t.certno_norm
)
select a.person_id, a.insutype,
       min(a.insu_admdvs) as insu_admdvs,
       array_join(array_sort(collect_set(u.accrym)), ',') as accrym_missing,
       count(distinct u.accrym) as months_missing,
       array_join(array_sort(collect_set(a.psn_no)), ',') as psn_nos,
       count(distinct t.accrym) as tax_collected_months
from act a
join unpaid u on u.psn_no = a.psn_no and u.insutype = a.insutype
left join tax t on t.person_id = a.person_id and t.insutype = a.insutype and t.accrym = u.accrym
where a.person_id is not null
group by a.person_id, a.insutype
