-- 死亡医学证明 (health)
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, psn_name, death_date, death_cause_icd10, admdvs, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('health', 'death_cert') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_name('s.psn_name') }} as psn_name, s.psn_name as psn_name_raw,
    s.death_date,
    {{ clean_code('s.death_cause_icd10') }} as death_cause_icd10,
    {{ clean_code('s.admdvs') }} as admdvs,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',', nullif(s.certno_flags, ''), nullif({{ name_flags('s.psn_name') }}, ''),
        case when s.death_date is null then 'DEATH_DATE_MISSING' end,
        case when s.death_date > {{ ref_date() }} then 'DEATH_DATE_FUTURE' end) as quality_flags
from {{ certno_std('src', '_certno_in') }} s
{% endcall %}
