-- 在职退休比 (赡养比, tender 004 参保分析): per month x pooling region, the insured working employees (310, psn_type
-- 在职职工 and 灵活就业人员) per insured retiree (310, 退休人员) at the month's end, from enrollment_trend; with the
-- province ('ALL') and the change against the previous month and the same month a year before (D15).
with t as (
    select ym, region,
           sum(case when psn_type in {{ psn_types_working() }} then insured else 0 end) as working,
           sum(case when psn_type = {{ psn_type_retiree() }} then insured else 0 end) as retirees
    from {{ ref('enrollment_trend') }}
    where insutype = {{ insutype_employee() }}
    group by ym, region
),
r as (
    select ym, region, working, retirees from t
    union all
    select ym, 'ALL', sum(working), sum(retirees) from t group by ym
),
k as (select r.*, cast(working as double) / nullif(retirees, 0) as ratio from r)
select k.ym, k.region, {{ region_name('k.region', 'd.name') }} as region_name,
       cast(k.working as bigint) as working, cast(k.retirees as bigint) as retirees, k.ratio,
       k.ratio - lag(k.ratio, 1) over w as ratio_mom,
       k.ratio - lag(k.ratio, 12) over w as ratio_yoy
from k
left join {{ ref('gbt2260_divisions') }} d on d.code = k.region
window w as (partition by k.region order by k.ym)
