-- 基金运行预警 (forecast): one row per pooling region x insutype of gold.fund_operation that the forecast stage
-- looked at (silver.fund_forecast_fit), with its last actual month, the first projected month whose risk level is
-- worse than 正常 (first_warning_ym), the worst level within the horizon, the month the balance would run out, and
-- the assumptions the projection rests on.  A pair without a forecast (too short a history) keeps its row, with
-- the reason and no projected column.  warning_ahead: 正常 in the last actual month, a warning within the horizon
-- (the months-payable warning ahead of time); a pair already at risk shows first_warning_ym = its first projected
-- month.  Tag forecast: built by the forecast stage only (see fund_forecast.sql).
{{ config(tags=['forecast']) }}
with fit as (
    select * from {{ source('forecast', 'fund_forecast_fit') }}
),
f as (
    select *, {{ fund_risk_rank('risk_level') }} as level_rank from {{ ref('fund_forecast') }}
),
agg as (
    select admdvs, insutype,
           min(case when risk_level <> '正常' then ym end) as first_warning_ym,
           min(case when risk_level <> '正常' then months_ahead end) as months_to_warning,
           max(level_rank) as worst_rank,
           min(case when cum_balance < 0 then ym end) as exhaustion_ym,
           min(months_payable) as min_months_payable,
           max(ym) as end_ym
    from f
    group by admdvs, insutype
),
worst as (
    select f.admdvs, f.insutype, min(f.ym) as worst_risk_ym
    from f join agg a on a.admdvs = f.admdvs and a.insutype = f.insutype and f.level_rank = a.worst_rank
    group by f.admdvs, f.insutype
)
select fit.admdvs, fit.insutype, fit.method, fit.reason, fit.history_months, fit.trained_from_ym, fit.trained_through_ym,
       o.ym as actual_ym, cast(o.cum_balance as double) as actual_cum_balance,
       o.months_payable as actual_months_payable, o.current_surplus_rate as actual_surplus_rate,
       o.risk_level as actual_risk_level,
       a.first_warning_ym, fw.risk_level as first_warning_level, a.months_to_warning,
       (o.risk_level = '正常' and a.first_warning_ym is not null) as warning_ahead,
       wr.risk_level as worst_risk_level, w.worst_risk_ym,
       a.exhaustion_ym, a.min_months_payable,
       a.end_ym, e.cum_balance as end_cum_balance, e.cum_balance_p10 as end_cum_balance_p10,
       e.cum_balance_p90 as end_cum_balance_p90, e.months_payable as end_months_payable,
       fit.horizon_months, fit.ageing_share_base, fit.ageing_share_growth, fit.elderly_cost_ratio,
       fit.backtest_months, fit.forecast_at
from fit
left join {{ ref('fund_operation') }} o
  on o.admdvs = fit.admdvs and o.insutype = fit.insutype and o.ym = fit.trained_through_ym
left join agg a on a.admdvs = fit.admdvs and a.insutype = fit.insutype
left join f fw on fw.admdvs = fit.admdvs and fw.insutype = fit.insutype and fw.ym = a.first_warning_ym
left join worst w on w.admdvs = fit.admdvs and w.insutype = fit.insutype
left join f wr on wr.admdvs = fit.admdvs and wr.insutype = fit.insutype and wr.ym = w.worst_risk_ym
left join f e on e.admdvs = fit.admdvs and e.insutype = fit.insutype and e.ym = a.end_ym
