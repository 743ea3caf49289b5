{# Names, phones, codes: the one place for each rule. #}

{# Chinese names: no spaces of any kind; full-width Latin letters and the middle-dot variants unified #}
{% macro clean_name(c) -%}
nullif(translate(regexp_replace({{ c }}, '[\\s　]', ''), '•・．.ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ', '····ABCDEFGHIJKLMNOPQRSTUVWXYZ'), '')
{%- endmacro %}

{% macro name_flags(c) -%}
concat_ws(',',
  case when {{ c }} rlike '^[\\s　]|[\\s　]$' then 'NAME_TRIMMED' end,
  case when regexp_replace(trim({{ c }}), '^[\\s　]+|[\\s　]+$', '') rlike '[\\s　]' then 'NAME_INNER_SPACE' end,
  case when {{ c }} rlike '[•・．ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ]' then 'NAME_FULLWIDTH' end,
  case when {{ c }} is null or {{ clean_name(c) }} is null then 'NAME_MISSING' end)
{%- endmacro %}

{# Mobile numbers: digits only, country code (+86 / 0086) dropped; 11 digits starting 1[3-9] are valid #}
{% macro tel_digits(c) -%}
regexp_replace(translate({{ c }}, '０１２３４５６７８９', '0123456789'), '[^0-9]', '')
{%- endmacro %}

{% macro clean_tel(c) -%}
nullif(case when {{ tel_digits(c) }} rlike '^(0086|86)1[3-9][0-9]{9}$'
            then regexp_replace({{ tel_digits(c) }}, '^(0086|86)', '')
            else {{ tel_digits(c) }} end, '')
{%- endmacro %}

{% macro tel_status(c) -%}
case when {{ c }} is null then 'MISSING'
     when {{ clean_tel(c) }} rlike '^1[3-9][0-9]{9}$' then 'VALID'
     when {{ clean_tel(c) }} rlike '^0[0-9]{9,11}$' then 'LANDLINE'
     else 'INVALID' end
{%- endmacro %}

{# A code cleaned of spaces (codes arrive as strings exactly as delivered) #}
{% macro clean_code(c) -%}
nullif(regexp_replace({{ c }}, '[\\s　]', ''), '')
{%- endmacro %}

{# Sex: the contract codes only; anything else is null (and flagged by the caller) #}
{% macro clean_gend(c) -%}
case when {{ clean_code(c) }} in ('1', '2', '9') then {{ clean_code(c) }} end
{%- endmacro %}

{% macro ref_date() -%}
date'{{ var("reference_date") }}'
{%- endmacro %}

{% macro ref_ym(months_back=0) -%}
date_format(add_months({{ ref_date() }}, -{{ months_back }}), 'yyyyMM')
{%- endmacro %}

{% macro in_region(c) -%}
({{ c }} like '{{ var("region_province") }}%')
{%- endmacro %}

{# Division of a code at a level: county (as is), city (xxyy00), province (xx0000) #}
{% macro safe_div(num, den) -%}
({{ num }}) / nullif({{ den }}, 0)
{%- endmacro %}
