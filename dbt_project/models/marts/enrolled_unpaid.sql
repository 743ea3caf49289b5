-- 已参保未缴费 (data-contract.md section 4, enrolled_unpaid).  The choices the contract left open are listed
-- in dbt_project/README.md, "Definitions" (D7); in short:
--   * who: a person of the target population (int_person_status.in_target, D3) with an active (psn_insu_stas 1)
--     310 or 390 enrollment in the region, under any of the person's psn_no;
--   * periods owed (one bit per period in a mask, bit i = the month w0 + i):
--       310 with psn_type 11 or 13: every month of the window (the contrib_window_months whole calendar months
--           before the reference date) from the month of enrollment on (the enrollment month is owed);
--           psn_type 12 (retirees), a missing or any other psn_type owe nothing;
--       390 (any psn_type but 12): the annual period, accrym = January of the reference year;
--       an enrollment registered on or after the reference date owes nothing yet; one without a date owes the
--       whole window;
--   * paid: contrib has the period with clct_flag = 1 under ANY psn_no of the person and the same insutype, or
--     tax.medins_clct has it for the person's ID number (through int_certno_person), same insutype;
--   * a period with no assessment row at all is owed like an assessed one (accrym_not_assessed names them).
-- The enrollments x periods are never exploded: contributions and tax collections are first reduced to one
-- bit mask per (psn_no | ID number) x insutype, so every join and aggregate has at most one row per enrollment.
{%- set ref_y = var('reference_date')[:4] | int %}
{%- set ref_m = var('reference_date')[5:7] | int %}
{%- set n = var('contrib_window_months') | int %}
{#- month numbers (year * 12 + month - 1); w0 = the first month of the window, bit i of a mask = month w0 + i #}
{%- set w0 = ref_y * 12 + ref_m - 1 - n %}
{%- set w0_date = '%04d-%02d-01' | format(w0 // 12, w0 % 12 + 1) %}
{%- set bit_390 = ref_y * 12 - w0 %}
{%- set max_bit = [n - 1, bit_390] | max %}
{%- set window_mask = 2 ** n - 1 %}
{%- set bit_of_accrym = "(cast(substring(accrym, 1, 4) as int) * 12 + cast(substring(accrym, 5, 2) as int) - 1 - " ~ w0 ~ ")" %}
{%- set periods_of -%}
array_join(filter(transform(sequence(0, {{ max_bit }}),
    i -> case when (shiftright(MASK, i) & 1) = 1 then date_format(add_months(date'{{ w0_date }}', i), 'yyyyMM') end),
    x -> x is not null), ',')
{%- endset %}
-- window: {{ w0_date[:7] }} + {{ n }} months; the 390 annual period is bit {{ bit_390 }}
with target as (
    select person_id from {{ ref('int_person_status') }} where in_target
),
enr as (
    select e.person_id, e.psn_no, e.insutype, e.psn_type, e.insu_admdvs,
           case when e.insutype = {{ insutype_employee() }} and e.psn_type in {{ psn_types_working() }}
                then {{ window_mask }} - (shiftleft(cast(1 as bigint), least(greatest(e.start_bit, 0), {{ n }})) - 1)
                when e.insutype = {{ insutype_resident() }} and coalesce(e.psn_type, '') <> {{ psn_type_retiree() }}
                then shiftleft(cast(1 as bigint), {{ bit_390 }})
                else cast(0 as bigint) end as owed_mask
    from (select person_id, psn_no, insutype, psn_type, insu_admdvs,
                 coalesce(year(crt_insu_date) * 12 + month(crt_insu_date) - 1 - {{ w0 }}, 0) as start_bit
          from {{ ref('int_person_enrollment') }}
          where is_basic and in_region and is_active and person_id is not null
            and (crt_insu_date is null or crt_insu_date < {{ ref_date() }})) e
    join target t on t.person_id = e.person_id
),
-- the core system: periods booked as received (clct_flag 1) and periods assessed at all, per person x insutype
medins as (
    select x.person_id, c.insutype, bit_or(c.paid) as paid_mask, bit_or(c.assessed) as assessed_mask
    from (select psn_no, insutype,
                 bit_or(case when clct_flag = '1' then shiftleft(cast(1 as bigint), b) else cast(0 as bigint) end) as paid,
                 bit_or(shiftleft(cast(1 as bigint), b)) as assessed
          from (select psn_no, insutype, clct_flag, {{ bit_of_accrym }} as b
                from {{ ref('stg_medins__contrib') }} where insutype in {{ basic_insutypes() }}) c0
          where b between 0 and {{ max_bit }}
          group by psn_no, insutype) c
    join (select record_id, person_id from {{ ref('int_person_clusters') }}
          where record_id like 'medins:psn_info:%') x
      on x.record_id = concat('medins:psn_info:', c.psn_no)
    group by x.person_id, c.insutype
),
-- tax: every medins_clct row is a collection (the table is what tax actually collected)
tax as (
    select cp.person_id, t.insutype, bit_or(t.collected) as tax_mask
    from (select certno_norm, insutype, bit_or(shiftleft(cast(1 as bigint), b)) as collected
          from (select certno_norm, insutype, {{ bit_of_accrym }} as b
                from {{ ref('stg_tax__medins_clct') }}
                where certno_norm is not null and insutype in {{ basic_insutypes() }}) t0
          where b between 0 and {{ max_bit }}
          group by certno_norm, insutype) t
    join {{ ref('int_certno_person') }} cp on cp.certno_norm = t.certno_norm
    group by cp.person_id, t.insutype
),
owing as (
    -- owed and not paid: owed - (owed & paid), i.e. owed & ~paid (Sail mis-evaluates ~(a | b): see README)
    select person_id, psn_no, insutype, psn_type, insu_admdvs, assessed_mask,
           owed_mask - (owed_mask & paid_mask) as unpaid_mask
    from (select e.person_id, e.psn_no, e.insutype, e.psn_type, e.insu_admdvs, e.owed_mask,
                 coalesce(m.paid_mask, cast(0 as bigint)) | coalesce(t.tax_mask, cast(0 as bigint)) as paid_mask,
                 coalesce(m.assessed_mask, cast(0 as bigint)) as assessed_mask
          from enr e
          left join medins m on m.person_id = e.person_id and m.insutype = e.insutype
          left join tax t on t.person_id = e.person_id and t.insutype = e.insutype
          where e.owed_mask <> 0) o
),
per as (
    select person_id, insutype,
           min(insu_admdvs) as insu_admdvs,
           bit_or(unpaid_mask) as unpaid_mask,
           max(assessed_mask) as assessed_mask,
           array_join(array_sort(collect_set(psn_no)), ',') as psn_nos,
           array_join(array_sort(collect_set(psn_type)), ',') as psn_types
    from owing
    where unpaid_mask <> 0
    group by person_id, insutype
)
select person_id, insutype, insu_admdvs,
       {{ periods_of | replace('MASK', 'unpaid_mask') }} as accrym_missing,
       bit_count(unpaid_mask) as months_missing,
       nullif({{ periods_of | replace('MASK', '(unpaid_mask - (unpaid_mask & assessed_mask))') }}, '') as accrym_not_assessed,
       psn_nos, psn_types,
       {{ ref_date() }} as reference_date
from per
