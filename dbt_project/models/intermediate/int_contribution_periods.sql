-- The contribution periods of contrib_reconciliation in the trend window, counted per period x basic insutype x the
-- enrollment's pooling region, person type and employer type: the base that contribution_trend rolls up (stored,
-- so that the eight roll-ups read a small table instead of re-running the joins: at 1M persons the joins inlined
-- eight times outgrew the engine's memory pool).
-- The enrollment (psn_no x insutype) gives region, person type and employer; a row without a psn_no (a tax
-- collection without an assessment, an owed period of a person with several psn_no) takes the person's latest
-- enrollment of the insutype; an assessment whose enrollment is not delivered counts under region UNKNOWN.
with bounds as (
    select date_format(add_months(trunc({{ ref_date() }}, 'MM'), -{{ var('trend_months') }}), 'yyyyMM') as first_ym,
           {{ ref_ym(1) }} as last_ym
),
c as (
    select c.person_id, c.psn_no, c.insutype, c.accrym, c.status, c.assessed_amt, c.tax_clct_amt, c.medins_clct_flag
    from {{ ref('contrib_reconciliation') }} c cross join bounds b
    where c.insutype in {{ basic_insutypes() }} and c.accrym between b.first_ym and b.last_ym
),
e as (
    select psn_no, insutype, insu_pool, psn_type, emp_no
    from {{ ref('int_person_enrollment') }} where is_basic
),
ep as (   -- only the persons of rows without a psn_no (few)
    select e.person_id, e.insutype, max_by(e.insu_pool, e.crt_insu_date) as insu_pool,
           max_by(e.psn_type, e.crt_insu_date) as psn_type, max_by(e.emp_no, e.crt_insu_date) as emp_no
    from {{ ref('int_person_enrollment') }} e
    join (select distinct person_id, insutype from c where psn_no is null and person_id is not null) k
      on k.person_id = e.person_id and k.insutype = e.insutype
    where e.is_basic
    group by e.person_id, e.insutype
),
-- Every period keeps its row: the joins below are right joins from the enrollments to the periods.  Sail builds
-- a hash join's table on its left side (unless statistics say the right is smaller) and cannot spill it; the
-- periods on the left (41M rows at 10M persons) exhausted the engine's pool (benchmarks/RESULTS.md, 2026-12-07).
ce as (
    select c.accrym, c.insutype, c.person_id, c.psn_no, c.status, c.assessed_amt, c.tax_clct_amt, c.medins_clct_flag,
           e.insu_pool, e.psn_type, e.emp_no
    from e right join c on e.psn_no = c.psn_no and e.insutype = c.insutype
),
r as (
    select c.accrym, c.insutype,
           coalesce(c.insu_pool, ep.insu_pool, 'UNKNOWN') as region,
           coalesce(c.psn_type, ep.psn_type, 'UNKNOWN') as psn_type,
           coalesce(c.emp_no, ep.emp_no) as emp_no,
           c.assessed_amt,
           c.status not in ('ASSESSED_NOT_COLLECTED', 'NOT_ASSESSED') as paid,
           case when c.status not in ('ASSESSED_NOT_COLLECTED', 'NOT_ASSESSED')
                then coalesce(c.tax_clct_amt, case when c.medins_clct_flag = '1' then c.assessed_amt end) end as collected_amt
    from ep right join ce c on c.psn_no is null and ep.person_id = c.person_id and ep.insutype = c.insutype
),
by_emp as (   -- aggregate before the employer lookup: one row per employer, not per period
    select accrym, insutype, region, psn_type, emp_no,
           count(*) as periods, count_if(paid) as paid_periods, count_if(assessed_amt is not null) as assessed_periods,
           sum(assessed_amt) as assessed_amt, sum(collected_amt) as collected_amt
    from r group by accrym, insutype, region, psn_type, emp_no
)
select b.accrym, b.insutype, b.region, b.psn_type,
       coalesce(x.emp_type, case when b.emp_no is null then 'NONE' else 'UNKNOWN' end) as emp_type,
       sum(b.periods) as periods, sum(b.paid_periods) as paid_periods, sum(b.assessed_periods) as assessed_periods,
       sum(b.assessed_amt) as assessed_amt, sum(b.collected_amt) as collected_amt
from by_emp b
left join (select emp_no, max(emp_type) as emp_type from {{ ref('stg_medins__emp_info') }} group by emp_no) x
  on x.emp_no = b.emp_no
group by 1, 2, 3, 4, 5
