-- 养老保险参保 (HRSS)
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, pension_type, psn_name, stas, admdvs, emp_uscc, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('hrss', 'pension_insu') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_code('s.pension_type') }} as pension_type,
    {{ clean_name('s.psn_name') }} as psn_name, s.psn_name as psn_name_raw,
    {{ clean_code('s.stas') }} as stas,
    {{ clean_code('s.admdvs') }} as admdvs,
    {{ clean_code('s.emp_uscc') }} as emp_uscc,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',', nullif(s.certno_flags, ''), nullif({{ name_flags('s.psn_name') }}, ''),
        case when {{ not_in_code_list('cs', clean_code('s.stas')) }} then 'STAS_INVALID' end) as quality_flags
from {{ certno_std('src', '_certno_in') }} s
{{ code_list_join('cs', 'pension_stas', clean_code('s.stas')) }}
{% endcall %}
