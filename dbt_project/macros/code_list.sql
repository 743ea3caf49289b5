{#
  The code lists of the contract (section 3) live in ONE place: the seed code_list (code_type, code, name).
  Models and tests read them from there, never from a literal list, so a province that extends a list edits
  the seed and the checks, the transformation, the quality suites (quality/reference.py) and the dashboards'
  names (dashboards/readpath.py) change together.

  In a model:   from ... s {{ code_list_join('ca', 'aid_type', clean_code('s.aid_type')) }}
                ... case when {{ not_in_code_list('ca', clean_code('s.aid_type')) }} then 'AID_TYPE_INVALID' end
                ... ca.code        -- the code when it is in the list, else null
  In a schema:  data_tests: [{in_code_list: {arguments: {code_type: gend}}}]
#}

{# A left join of one code list under `alias`, matched on the SQL expression `code` (at most one row: the seed's
   (code_type, code) is unique) #}
{% macro code_list_join(alias, code_type, code) -%}
left join {{ ref('code_list') }} {{ alias }} on {{ alias }}.code_type = '{{ code_type }}' and {{ alias }}.code = {{ code }}
{%- endmacro %}

{# True when `code` has a value that the list joined as `alias` does not have (a null code is not invalid) #}
{% macro not_in_code_list(alias, code) -%}
({{ code }} is not null and {{ alias }}.code is null)
{%- endmacro %}

{# Generic test: every non-null value of the column is a code of the code list `code_type` #}
{% test in_code_list(model, column_name, code_type) %}
select cast(m.{{ column_name }} as string) as value, count(*) as n
from {{ model }} m
{{ code_list_join('c', code_type, 'cast(m.' ~ column_name ~ ' as string)') }}
where m.{{ column_name }} is not null and c.code is null
group by cast(m.{{ column_name }} as string)
{% endtest %}
