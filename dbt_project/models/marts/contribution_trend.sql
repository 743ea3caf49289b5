-- 缴费分析 (tender 004, a demonstration point): per contribution period (accrym) x pooling region x basic insutype x
-- person type x employer type, what was due and what was collected, over the trend_months whole calendar months
-- before the reference date, with roll-ups ('ALL') over region, person type and employer type (D15).
-- The periods are the rows of contrib_reconciliation (one per assessment, per tax collection without one, per owed
-- period nobody assessed): a period is paid as the contract defines it (D7): the core system shows it received
-- (clct_flag 1) or tax collected it.  collected_amt is what tax collected, else the assessment the core system shows
-- received.  The base per period, region, person type and employer type is int_contribution_periods.
with base as (select * from {{ ref('int_contribution_periods') }}),
g as (
    {% set dims = [] %}
    {% for rg in ['region', "'ALL'"] %}{% for pt in ['psn_type', "'ALL'"] %}{% for et in ['emp_type', "'ALL'"] %}
    {% do dims.append((rg, pt, et)) %}
    {% endfor %}{% endfor %}{% endfor %}
    {% for rg, pt, et in dims %}
    select accrym, insutype, {{ rg }} as region, {{ pt }} as psn_type, {{ et }} as emp_type,
           sum(periods) as periods, sum(paid_periods) as paid_periods, sum(assessed_periods) as assessed_periods,
           sum(assessed_amt) as assessed_amt, sum(coalesce(collected_amt, 0)) as collected_amt
    from base group by 1, 2, 3, 4, 5
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
k as (select g.*, cast(paid_periods as double) / nullif(periods, 0) as payment_rate from g)
select k.accrym, k.insutype, k.region, {{ region_name('k.region', 'd.name') }} as region_name,
       k.psn_type, k.emp_type,
       cast(k.periods as bigint) as periods, cast(k.paid_periods as bigint) as paid_periods,
       cast(k.assessed_periods as bigint) as assessed_periods,
       cast(k.assessed_amt as decimal(20, 2)) as assessed_amt, cast(k.collected_amt as decimal(20, 2)) as collected_amt,
       k.payment_rate,
       cast(k.collected_amt as double) / nullif(cast(m.collected_amt as double), 0) - 1 as collected_amt_mom,
       cast(k.collected_amt as double) / nullif(cast(y.collected_amt as double), 0) - 1 as collected_amt_yoy,
       k.payment_rate - m.payment_rate as payment_rate_mom,
       k.payment_rate - y.payment_rate as payment_rate_yoy
from k
left join k m on m.insutype = k.insutype and m.region = k.region and m.psn_type = k.psn_type and m.emp_type = k.emp_type
 and m.accrym = date_format(add_months(to_date(concat(k.accrym, '01'), 'yyyyMMdd'), -1), 'yyyyMM')
left join k y on y.insutype = k.insutype and y.region = k.region and y.psn_type = k.psn_type and y.emp_type = k.emp_type
 and y.accrym = date_format(add_months(to_date(concat(k.accrym, '01'), 'yyyyMMdd'), -12), 'yyyyMM')
left join {{ ref('gbt2260_divisions') }} d on d.code = k.region
