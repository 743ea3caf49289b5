-- 个税扣缴 (tax): person x withholding employer
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, emp_uscc, psn_name, last_tax_ym, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('tax', 'taxpayer') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_code('s.emp_uscc') }} as emp_uscc,
    {{ clean_name('s.psn_name') }} as psn_name, s.psn_name as psn_name_raw,
    s.last_tax_ym,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',', nullif(s.certno_flags, ''), nullif({{ name_flags('s.psn_name') }}, '')) as quality_flags
from {{ certno_std('src', '_certno_in') }} s
{% endcall %}
