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
