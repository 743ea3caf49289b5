-- 户籍地未参保人员 list sent down by the national platform
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, psn_name, hsreg_admdvs, issue_batch, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('national', 'national_uninsured') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_name('s.psn_name') }} as psn_name, s.psn_name as psn_name_raw,
    {{ clean_code('s.hsreg_admdvs') }} as hsreg_admdvs,
    trim(s.issue_batch) as issue_batch,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',', nullif(s.certno_flags, ''), nullif({{ name_flags('s.psn_name') }}, '')) as quality_flags
from {{ certno_std('src', '_certno_in') }} s
{% endcall %}
