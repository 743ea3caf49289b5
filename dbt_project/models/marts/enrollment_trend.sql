-- 参保人数变化趋势 (tender 004 参保分析; 000 全民参保): per month x pooling region x basic insutype x person type,
-- the insured persons at the month's end, with the month's new enrollments, suspensions, terminations and scheme
-- switches, over the trend_months whole calendar months before the reference date (dbt_project/README.md D15).
--
-- History is rebuilt from the enrollment dates of the latest delivery (psn_insu keeps one row per psn_no x insutype):
-- a person's spell in a pooling region and insutype runs from the earliest crt_insu_date of its enrollments to the
-- stop date, the latest paus_insu_date when every enrollment of the spell is stopped (status 2 or 4), open while one
-- is active.  A stopped enrollment without a stop date cannot be placed in time: it is left out of every month and
-- counted in undated_stops.  What the latest delivery cannot show (a suspension that was later resumed under the
-- same key) is not in the history; the monthly figures are exact for what the contract keeps.
with months as (
    select date_format(add_months(trunc({{ ref_date() }}, 'MM'), -k), 'yyyyMM') as ym
    from (select explode(sequence(1, {{ var('trend_months') }})) as k) t
),
bounds as (select min(ym) as first_ym, max(ym) as last_ym from months),
enr as (
    select coalesce(e.person_id, concat('psn:', e.psn_no)) as person_id, e.insutype, e.insu_pool as region,
           e.psn_type, e.psn_insu_stas, e.crt_insu_date, e.paus_insu_date, e.is_active
    from {{ ref('int_person_enrollment') }} e
    where e.is_basic and e.in_region and e.crt_insu_date is not null
),
spell as (   -- one spell per person x insutype x pooling region
    select person_id, insutype, region,
           max_by(psn_type, crt_insu_date) as psn_type,
           date_format(min(crt_insu_date), 'yyyyMM') as start_ym,
           case when not bool_or(is_active) and count(paus_insu_date) = count(*)
                then date_format(max(paus_insu_date), 'yyyyMM') end as stop_ym,
           case when not bool_or(is_active) then max_by(psn_insu_stas, paus_insu_date) end as stop_stas,
           (not bool_or(is_active) and count(paus_insu_date) < count(*)) as undated_stop
    from enr group by person_id, insutype, region
),
placed as (  -- a stop before its start is a data error: the spell is left out like an undated stop
    select s.*, (s.undated_stop or coalesce(s.stop_ym < s.start_ym, false)) as unplaceable from spell s
),
events as (  -- +1 when a spell starts, -1 when it stops; months before the window fall into its first month
    select region, insutype, psn_type, greatest(start_ym, b.first_ym) as ym, 1 as delta,
           case when start_ym >= b.first_ym then 1 else 0 end as new_enrollment, 0 as suspension, 0 as termination
    from placed cross join bounds b where not unplaceable and start_ym <= b.last_ym
    union all
    select region, insutype, psn_type, greatest(stop_ym, b.first_ym) as ym, -1 as delta, 0,
           case when stop_ym >= b.first_ym and stop_stas = '2' then 1 else 0 end,
           case when stop_ym >= b.first_ym and stop_stas = '4' then 1 else 0 end
    from placed cross join bounds b where not unplaceable and stop_ym is not null and stop_ym <= b.last_ym
),
-- 险种转换: a spell that starts in the month the same person's spell of the other basic insutype stopped, or the month after
switches as (
    select n.region, n.insutype, n.psn_type, n.start_ym as ym, count(*) as switches_in
    from placed n
    join (select person_id, insutype, stop_ym from placed where stop_ym is not null and not unplaceable) o
      on o.person_id = n.person_id and o.insutype <> n.insutype
     and n.start_ym in (o.stop_ym, date_format(add_months(to_date(concat(o.stop_ym, '01'), 'yyyyMMdd'), 1), 'yyyyMM'))
    cross join bounds b
    where not n.unplaceable and n.start_ym between b.first_ym and b.last_ym
    group by n.region, n.insutype, n.psn_type, n.start_ym
),
agg as (
    select region, insutype, psn_type, ym, sum(delta) as delta, sum(new_enrollment) as new_enrollments,
           sum(suspension) as suspensions, sum(termination) as terminations
    from events group by region, insutype, psn_type, ym
),
undated as (
    select region, insutype, psn_type, count(*) as undated_stops from placed where unplaceable
    group by region, insutype, psn_type
),
grid as (
    select g.region, g.insutype, g.psn_type, m.ym
    from (select distinct region, insutype, psn_type from placed) g cross join months m
),
series as (
    select g.region, g.insutype, g.psn_type, g.ym,
           sum(coalesce(a.delta, 0)) over (partition by g.region, g.insutype, g.psn_type order by g.ym
                                           rows between unbounded preceding and current row) as insured,
           coalesce(a.new_enrollments, 0) as new_enrollments,
           coalesce(a.suspensions, 0) as suspensions,
           coalesce(a.terminations, 0) as terminations,
           coalesce(s.switches_in, 0) as switches_in
    from grid g
    left join agg a on a.region = g.region and a.insutype = g.insutype and a.psn_type <=> g.psn_type and a.ym = g.ym
    left join switches s on s.region = g.region and s.insutype = g.insutype and s.psn_type <=> g.psn_type and s.ym = g.ym
)
select s.ym, s.region, d.name as region_name, s.insutype, s.psn_type, cast(s.insured as bigint) as insured,
       cast(s.new_enrollments as bigint) as new_enrollments, cast(s.suspensions as bigint) as suspensions,
       cast(s.terminations as bigint) as terminations, cast(s.switches_in as bigint) as switches_in,
       cast(coalesce(u.undated_stops, 0) as bigint) as undated_stops,
       cast(s.insured - lag(s.insured, 1) over w as bigint) as insured_mom,
       cast(s.insured - lag(s.insured, 12) over w as bigint) as insured_yoy,
       s.insured / nullif(lag(s.insured, 1) over w, 0) - 1 as insured_mom_rate,
       s.insured / nullif(lag(s.insured, 12) over w, 0) - 1 as insured_yoy_rate,
       {{ ref_date() }} as reference_date
from series s
left join undated u on u.region = s.region and u.insutype = s.insutype and u.psn_type <=> s.psn_type
left join {{ ref('gbt2260_divisions') }} d on d.code = s.region
window w as (partition by s.region, s.insutype, s.psn_type order by s.ym)
