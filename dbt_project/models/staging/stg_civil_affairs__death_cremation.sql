-- 殡葬 / 死亡登记 (civil affairs)
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, psn_name, death_date, admdvs, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('civil_affairs', 'death_cremation') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_name('s.psn_name') }} as psn_name, s.psn_name as psn_name_raw,
    s.death_date,
    {{ clean_code('s.admdvs') }} as admdvs,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',', nullif(s.certno_flags, ''), nullif({{ name_flags('s.psn_name') }}, ''),
        case when s.death_date is null then 'DEATH_DATE_MISSING' end,
        case when s.death_date > {{ ref_date() }} then 'DEATH_DATE_FUTURE' end,
        case when s.admdvs is not null and d.code is null then 'ADMDVS_UNKNOWN' end) as quality_flags
from {{ certno_std('src', '_certno_in') }} s
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('s.admdvs') }}
{% endcall %}
