{# Generic test: every non-null value of the column lies in [min_value, max_value] (either bound may be omitted;
   `strict: true` excludes the bounds).  Fails with the offending rows.  No dbt packages needed. #}
{% test value_between(model, column_name, min_value=none, max_value=none, strict=false) %}
{%- set lo = '>' if strict else '>=' %}{%- set hi = '<' if strict else '<=' %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and not ({% if min_value is not none %}{{ column_name }} {{ lo }} {{ min_value }}{% else %}true{% endif %}
           and {% if max_value is not none %}{{ column_name }} {{ hi }} {{ max_value }}{% else %}true{% endif %})
{% endtest %}
