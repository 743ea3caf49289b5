-- Every period enrolled_unpaid lists is owed and nobody collected it (data-contract.md section 4, enrolled_unpaid;
-- dbt_project/README.md Definitions D7), checked from the staging tables, independently of the model's bit masks:
--   the person is in the target population and has an active 310/390 enrollment of that insutype in the region;
--   the period is inside the window (310) or the reference year's annual period (390);
--   no contrib row of any psn_no of the person has it with clct_flag 1, and tax collected nothing for it.
-- Any row returned breaks the definition.
{%- set ref_y = var('reference_date')[:4] | int %}
with listed as (
    select person_id, insutype, trim(accrym) as accrym
    from (select person_id, insutype, explode(split(accrym_missing, ',')) as accrym
          from {{ ref('enrolled_unpaid') }}) u
),
-- the listed persons only (a small set): every lookup below is a hash table of their rows, probed by a scan
lp as (
    select distinct person_id from {{ ref('enrolled_unpaid') }}
),
psn as (
    select c.record_id, c.person_id
    from {{ ref('int_person_clusters') }} c join lp on lp.person_id = c.person_id
    where c.record_id like 'medins:psn_info:%'
),
paid_medins as (
    select distinct x.person_id, c.insutype, c.accrym
    from {{ ref('stg_medins__contrib') }} c
    join psn x on x.record_id = concat('medins:psn_info:', c.psn_no)
    where c.clct_flag = '1'
),
paid_tax as (
    select distinct cp.person_id, t.insutype, t.accrym
    from {{ ref('stg_tax__medins_clct') }} t
    join (select i.certno_norm, i.person_id from {{ ref('int_certno_person') }} i
          join lp on lp.person_id = i.person_id) cp on cp.certno_norm = t.certno_norm
),
enrolled as (
    select distinct e.person_id, e.insutype
    from {{ ref('int_person_enrollment') }} e join lp on lp.person_id = e.person_id
    where e.is_basic and e.in_region and e.is_active and coalesce(e.psn_type, '') <> '12'
)
select l.*
from listed l
left join {{ ref('int_person_status') }} s on s.person_id = l.person_id
left join enrolled e on e.person_id = l.person_id and e.insutype = l.insutype
left join paid_medins m on m.person_id = l.person_id and m.insutype = l.insutype and m.accrym = l.accrym
left join paid_tax t on t.person_id = l.person_id and t.insutype = l.insutype and t.accrym = l.accrym
where not coalesce(s.in_target, false)
   or e.person_id is null
   or m.person_id is not null
   or t.person_id is not null
   or (l.insutype = {{ insutype_employee() }} and (l.accrym < {{ ref_ym(var('contrib_window_months')) }} or l.accrym >= {{ ref_ym(0) }}))
   or (l.insutype = {{ insutype_resident() }} and l.accrym <> '{{ ref_y }}01')
