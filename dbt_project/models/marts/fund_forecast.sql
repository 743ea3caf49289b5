-- 基金运行预测: pooling region x insutype x projected month (models/forecast/README.md).
-- Built by the forecast stage only (`yibao forecast run`, `yibao run` after the gold checks): tag forecast, left out of
-- the main `dbt build` by the default selector (selectors.yml), since it reads silver.fund_forecast_series, which
-- that stage writes just before building this model.
--   income, expense       the statistical forecast of the month (Holt-Winters, statsmodels), expense after the
--                         population-ageing adjustment (expense_trend: before it)
--   cum_balance           累计结余 = the last actual cum_balance of gold.fund_operation (the month the series was
--                         trained through) + cumulative projected income - expense.  Year boundary: the balance
--                         rolls over, the year's opening balance (年初滚存结余) = the previous December's closing
--                         balance; fund_opening is known for actual years only, so no year-end adjustment is assumed
--   months_payable        累计结余可支付月数 = cum_balance / average monthly expense of the last 12 months, the window
--                         sliding over actual then projected months (fund_operation's definition)
--   current_surplus_rate  当期结余率 = (income - expense) / income of the year to date, actual months of the year
--                         included (fund_operation's definition)
--   risk_level            macro fund_risk_level: the same rule and risk_* vars as gold.fund_operation
{{ config(tags=['forecast']) }}
with s as (
    select * from {{ source('forecast', 'fund_forecast_series') }}
),
pairs as (
    select distinct admdvs, insutype, trained_through_ym from s
),
anchor as (
    select o.admdvs, o.insutype, cast(o.cum_balance as double) as cum_balance
    from {{ ref('fund_operation') }} o
    join pairs p on p.admdvs = o.admdvs and p.insutype = o.insutype and p.trained_through_ym = o.ym
),
months as (
    -- every actual month up to the last one trained on (the year-to-date sums and the 12-month window read them) ...
    select o.admdvs, o.insutype, o.ym, cast(o.income as double) as income, cast(o.expense as double) as expense,
           false as projected
    from {{ ref('fund_operation') }} o
    join pairs p on p.admdvs = o.admdvs and p.insutype = o.insutype and o.ym <= p.trained_through_ym
    union all
    -- ... then the projected months
    select admdvs, insutype, ym, income, expense, true as projected from s
),
w as (
    select m.*,
           sum(case when projected then income - expense else 0 end)
               over (partition by admdvs, insutype order by ym rows between unbounded preceding and current row) as net_projected,
           {{ fund_windows() }}
    from months m
),
k as (
    select w.admdvs, w.insutype, w.ym, a.cum_balance + w.net_projected as cum_balance, w.ytd_income, w.ytd_expense,
           w.avg_expense_12m,
           {{ months_payable('a.cum_balance + w.net_projected', 'w.avg_expense_12m') }} as months_payable,
           {{ current_surplus_rate('w.ytd_income', 'w.ytd_expense') }} as current_surplus_rate
    from w join anchor a on a.admdvs = w.admdvs and a.insutype = w.insutype
    where w.projected
)
select s.admdvs, s.insutype, s.ym, s.months_ahead,
       s.income, s.expense, s.expense_trend,
       k.cum_balance, k.months_payable, k.current_surplus_rate,
       {{ fund_risk_level('k.months_payable', 'k.current_surplus_rate') }} as risk_level,
       s.income_p10, s.income_p90, s.expense_p10, s.expense_p90,
       a.cum_balance + s.net_cum_p10 as cum_balance_p10,
       a.cum_balance + s.net_cum_p90 as cum_balance_p90,
       k.ytd_income, k.ytd_expense, k.avg_expense_12m,
       s.ageing_share_base, s.ageing_share, s.ageing_factor,
       s.method, s.history_months, s.trained_from_ym, s.trained_through_ym,
       s.horizon_months, s.ageing_share_growth, s.elderly_cost_ratio, s.interval_level, s.forecast_at
from s
join k on k.admdvs = s.admdvs and k.insutype = s.insutype and k.ym = s.ym
join anchor a on a.admdvs = s.admdvs and a.insutype = s.insutype
