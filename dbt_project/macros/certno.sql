{#
  GB 11643 citizen ID numbers.  The ONE implementation of the project's ID rules: the staging models call these
  macros through dbt, and the bronze quality suites (yibao.quality.suites.id_rules) render the same macros from
  this file with Jinja, so the cleaning, the format and the embedded birth date are written once.
  (tests/test_certno_rule.py runs both on the same edge cases.)  Macros rendered by the quality suites may use
  nothing of dbt's (no var, ref or adapter): clean_certno, certno_format_regex, certno_body17, certno_birth.

  clean_certno(c)        full-width -> half-width, lower x -> X, every kind of space removed; '' -> null
  certno_format_regex()  the format of a cleaned number: 18 characters (17 digits + digit or X) or 15 digits
  certno_body17(c)       17-digit body of a cleaned number (legacy 15-digit: '19' inserted); null if no format
  certno_check_char(b)   ISO 7064 MOD 11-2 check character of a 17-digit body
  certno_birth(b)        birth date embedded in digits 7-14 of a body (null when not a real date)
  certno_sex(c)          sex from digit 17 (odd 1, even 2)
  certno_std(...)        the whole standardisation of one ID column (below):
     18-character values are kept as they are, 15-digit legacy numbers expanded (insert '19', compute the
     check); status VALID | LEGACY15 (converted, trusted) | MISSING | BAD_FORMAT | BAD_CHECKSUM |
     BAD_BIRTHDATE (only VALID and LEGACY15 numbers are trustworthy); flags: FULLWIDTH, LOWER_X, SPACES,
     LEGACY15, BAD_FORMAT, BAD_CHECKSUM, BAD_BIRTHDATE, DIVISION_UNKNOWN, SEX_MISMATCH, BRDY_MISMATCH
#}

{% macro clean_certno(c) -%}
nullif(upper(regexp_replace(translate({{ c }}, '０１２３４５６７８９Ｘｘ', '0123456789XX'), '[\\s　]', '')), '')
{%- endmacro %}

{% macro certno_format_regex() -%}
^([0-9]{17}[0-9X]|[0-9]{15})$
{%- endmacro %}

{% macro certno_body17(c) -%}
case when {{ c }} rlike '{{ certno_format_regex() }}'
     then case when length({{ c }}) = 18 then substring({{ c }}, 1, 17)
               else concat(substring({{ c }}, 1, 6), '19', substring({{ c }}, 7, 9)) end end
{%- endmacro %}

{% macro certno_check_char(body) -%}
{%- set w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] -%}
substring('10X98765432', pmod(
  {%- for i in range(17) %}{% if not loop.first %} + {% endif %}cast(substring({{ body }}, {{ i + 1 }}, 1) as int) * {{ w[i] }}{% endfor -%}
, 11) + 1, 1)
{%- endmacro %}

{# birth date embedded in digits 7-14 of a 17-digit body or an 18-character number (null when not a real date) #}
{% macro certno_birth(b) -%}
try_cast(concat(substring({{ b }}, 7, 4), '-', substring({{ b }}, 11, 2), '-', substring({{ b }}, 13, 2)) as date)
{%- endmacro %}

{# sex from the 17th digit: odd 1 (男), even 2 (女) #}
{% macro certno_sex(c18) -%}
case when pmod(cast(substring({{ c18 }}, 17, 1) as int), 2) = 1 then '1' else '2' end
{%- endmacro %}

{#
  certno_std(relation_sql, col, prefix, gend, brdy): a subquery of `relation_sql` with the ID columns added:
    <prefix>certno_raw     the value as delivered
    <prefix>certno_norm    the normalised 18-character form (also when it fails validation), or null
    <prefix>certno_status  see certno_status
    <prefix>certno         the canonical number when trustworthy (VALID / LEGACY15), else null
    <prefix>certno_flags   comma list (empty string when clean)
  `gend` / `brdy` (expressions over the relation's columns, optional) are compared with the sex digit and
  the embedded birth date.  Each step is its own subquery so that no heavy expression is repeated
  (the engine plans repeated expressions again and again).
#}
{% macro certno_std(relation_sql, col, prefix='', gend=none, brdy=none) -%}
{%- set p = prefix -%}
(select s3.*,
        case when _st_{{ p }} in ('VALID', 'LEGACY15') then _c18_{{ p }} end as {{ p }}certno,
        _c18_{{ p }} as {{ p }}certno_norm,
        _st_{{ p }} as {{ p }}certno_status,
        concat_ws(',',
          case when {{ col }} rlike '[０-９Ｘｘ]' then 'FULLWIDTH' end,
          case when {{ col }} rlike 'x|ｘ' then 'LOWER_X' end,
          case when {{ col }} rlike '[\\s　]' then 'SPACES' end,
          case when _st_{{ p }} = 'LEGACY15' then 'LEGACY15' end,
          case when _st_{{ p }} in ('BAD_FORMAT', 'BAD_CHECKSUM', 'BAD_BIRTHDATE') then _st_{{ p }} end,
          case when _st_{{ p }} in ('VALID', 'LEGACY15') and _d.province_code is null then 'DIVISION_UNKNOWN' end
          {%- if gend %},
          case when _st_{{ p }} in ('VALID', 'LEGACY15') and {{ gend }} in ('1', '2')
                    and {{ gend }} <> {{ certno_sex('_c18_' ~ p) }} then 'SEX_MISMATCH' end
          {%- endif %}
          {%- if brdy %},
          case when _st_{{ p }} in ('VALID', 'LEGACY15') and {{ brdy }} is not null
                    and {{ brdy }} <> _birth_{{ p }} then 'BRDY_MISMATCH' end
          {%- endif %}
        ) as {{ p }}certno_flags
 from (select s2.*,
              case when _c_{{ p }} is null then 'MISSING'
                   when _b17_{{ p }} is null then 'BAD_FORMAT'
                   when length(_c_{{ p }}) = 18 and substring(_c_{{ p }}, 18, 1) <> _chk_{{ p }} then 'BAD_CHECKSUM'
                   when _birth_{{ p }} is null or _birth_{{ p }} < date'1890-01-01'
                        or _birth_{{ p }} > date'{{ var("reference_date") }}' then 'BAD_BIRTHDATE'
                   when length(_c_{{ p }}) = 15 then 'LEGACY15'
                   else 'VALID' end as _st_{{ p }},
              case when length(_c_{{ p }}) = 18 then _c_{{ p }}
                   when _b17_{{ p }} is not null then concat(_b17_{{ p }}, _chk_{{ p }}) end as _c18_{{ p }}
       from (select s1.*, {{ certno_check_char('_b17_' ~ p) }} as _chk_{{ p }},
                    {{ certno_birth('_b17_' ~ p) }} as _birth_{{ p }}
             from (select s0.*, {{ certno_body17('_c_' ~ p) }} as _b17_{{ p }}
                   from (select r.*, {{ col }} as {{ p }}certno_raw, {{ clean_certno(col) }} as _c_{{ p }}
                         from {{ relation_sql }} r) s0) s1) s2) s3
 left join (select distinct province_code from {{ ref('gbt2260_divisions') }}) _d
   on concat(substring(_c18_{{ p }}, 1, 2), '0000') = _d.province_code)
{%- endmacro %}
