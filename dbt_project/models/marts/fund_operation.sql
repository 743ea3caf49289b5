-- 基金运行: pooling region x insutype x month.
--   cum_balance           opening balance of the year (fund_opening) + income - expense of the year to date
--   months_payable        累计结余可支付月数 = cum_balance / average monthly expense of the last 12 months
--   current_surplus_rate  当期结余率 = (income - expense) / income, year to date
--   (the windows and both measures: macros in macros/fund_risk.sql, shared with gold.fund_forecast)
--   risk_level            the worse of the two measures against the risk_* vars (dbt_project.yml; the rule is
--                         the macro fund_risk_level, macros/fund_risk.sql, shared with gold.fund_forecast):
--                         严重 / 中等 / 一般 / 正常; at least 一般 when months_payable <= 6 or the rate < 15 %
with m as (
    select admdvs, insutype, ym,
           sum(case when direction = 'I' then amount else 0 end) as income,
           sum(case when direction = 'E' then amount else 0 end) as expense
    from {{ ref('stg_medins__fund_ledger') }}
    group by admdvs, insutype, ym
),
w as (
    select m.*, cast(substring(ym, 1, 4) as int) as year,
           {{ fund_windows() }}
    from m
),
b as (
    select w.*, o.amount as opening_balance,
           o.amount + w.ytd_income - w.ytd_expense as cum_balance
    from w left join {{ ref('stg_medins__fund_opening') }} o
      on o.admdvs = w.admdvs and o.insutype = w.insutype and o.year = w.year
),
k as (
    select b.*,
           cast({{ months_payable('b.cum_balance', 'b.avg_expense_12m') }} as double) as months_payable,
           cast({{ current_surplus_rate('b.ytd_income', 'b.ytd_expense') }} as double) as current_surplus_rate
    from b
)
select admdvs, insutype, ym, income, expense, cum_balance, months_payable, current_surplus_rate,
       {{ fund_risk_level('months_payable', 'current_surplus_rate') }} as risk_level,
       opening_balance, ytd_income, ytd_expense, avg_expense_12m
from k
