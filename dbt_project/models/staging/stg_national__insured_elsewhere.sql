-- enrolled in another province (national platform)
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, insutype, insu_admdvs, psn_insu_stas, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('national', 'insured_elsewhere') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_code('s.insutype') }} as insutype,
    {{ clean_code('s.insu_admdvs') }} as insu_admdvs,
    {{ clean_code('s.psn_insu_stas') }} as psn_insu_stas,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    nullif(s.certno_flags, '') as quality_flags
from {{ certno_std('src', '_certno_in') }} s
{% endcall %}
