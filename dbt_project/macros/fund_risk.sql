{#- 基金运行风险等级: the one home of the fund risk rule (README Definitions D9), used by gold.fund_operation (actual
    months) and gold.fund_forecast (projected months).  The worse of the two measures against the risk_* vars
    (dbt_project.yml): 严重 / 中等 / 一般 / 正常.  A null measure (no expense in the window, no income in the year)
    never raises the level on its own. -#}
{% macro fund_risk_level(months_payable, surplus_rate) -%}
case when ({{ months_payable }}) <= {{ var('risk_months_severe') }} or ({{ surplus_rate }}) < {{ var('risk_surplus_severe') }} then '严重'
            when ({{ months_payable }}) <= {{ var('risk_months_medium') }} or ({{ surplus_rate }}) < {{ var('risk_surplus_medium') }} then '中等'
            when ({{ months_payable }}) <= {{ var('risk_months_general') }} or ({{ surplus_rate }}) < {{ var('risk_surplus_general') }} then '一般'
            else '正常' end
{%- endmacro %}

{#- The order of the levels (0 正常 .. 3 严重), to find the worst month of a projection; not a rule of its own. -#}
{% macro fund_risk_rank(level) -%}
case {{ level }} when '严重' then 3 when '中等' then 2 when '一般' then 1 when '正常' then 0 end
{%- endmacro %}

{#- The measures' windows over a pooling region x insutype's months (README Definitions D9), shared by
    gold.fund_operation (actual months) and gold.fund_forecast (actual then projected months): income and expense of
    the year to date, and the average monthly expense of the last 12 months.  Reads columns admdvs, insutype, ym
    (yyyyMM), income, expense. -#}
{% macro fund_windows() -%}
sum(income) over (partition by admdvs, insutype, substring(ym, 1, 4) order by ym
                             rows between unbounded preceding and current row) as ytd_income,
           sum(expense) over (partition by admdvs, insutype, substring(ym, 1, 4) order by ym
                              rows between unbounded preceding and current row) as ytd_expense,
           avg(expense) over (partition by admdvs, insutype order by ym
                              rows between 11 preceding and current row) as avg_expense_12m
{%- endmacro %}

{#- 累计结余可支付月数 = cumulative balance / average monthly expense of the last 12 months. -#}
{% macro months_payable(balance, avg_expense_12m) -%}
({{ balance }}) / nullif({{ avg_expense_12m }}, 0)
{%- endmacro %}

{#- 当期结余率 = (income - expense) / income, year to date. -#}
{% macro current_surplus_rate(ytd_income, ytd_expense) -%}
(({{ ytd_income }}) - ({{ ytd_expense }})) / nullif({{ ytd_income }}, 0)
{%- endmacro %}
