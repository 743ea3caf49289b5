{#
  Fellegi-Sunter log2 likelihood-ratio weights.  agree: log2(m/u); disagree: log2((1-m)/(1-u));
  a missing value on either side weighs 0.  m and u are dbt vars (dbt_project.yml).
#}
{% macro fs_agree(f) -%}
log2({{ var('fs_m_' ~ f) }} / {{ var('fs_u_' ~ f) }})
{%- endmacro %}
{% macro fs_disagree(f) -%}
log2((1 - {{ var('fs_m_' ~ f) }}) / (1 - {{ var('fs_u_' ~ f) }}))
{%- endmacro %}
{% macro fs_field(a, b, f) -%}
case when {{ a }} is null or {{ b }} is null then 0.0
     when {{ a }} = {{ b }} then {{ fs_agree(f) }}
     else {{ fs_disagree(f) }} end
{%- endmacro %}
{% macro fs_name(a, b) -%}
case when {{ a }} is null or {{ b }} is null then 0.0
     when {{ a }} = {{ b }} then {{ fs_agree('name') }}
     when length({{ a }}) = length({{ b }}) and levenshtein({{ a }}, {{ b }}) = 1 then {{ fs_agree('name_close') }}
     else log2((1 - {{ var('fs_m_name') }} - {{ var('fs_m_name_close') }}) / (1 - {{ var('fs_u_name') }} - {{ var('fs_u_name_close') }})) end
{%- endmacro %}
{% macro fs_certno(a, b) -%}
case when {{ a }} is null or {{ b }} is null then 0.0
     when levenshtein({{ a }}, {{ b }}) <= 2 then {{ fs_agree('certno_close') }}
     else {{ fs_disagree('certno_close') }} end
{%- endmacro %}
