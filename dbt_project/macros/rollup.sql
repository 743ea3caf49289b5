{#- The province roll-up of the trend marts (D15): besides one row per pooling region (or prefecture), a row whose
    region is 'ALL' sums the province.  region_name names a row: the division's name, or 全省 for the roll-up. -#}
{% macro region_name(region, division_name) -%}
coalesce({{ division_name }}, case when {{ region }} = 'ALL' then '全省' end)
{%- endmacro %}
