-- 救助对象 (civil affairs); aid_type 1 特困 is fully subsidised
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, aid_type, psn_name, admdvs, begn_date, end_date, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('civil_affairs', 'assistance_obj') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_code('s.aid_type') }} as aid_type,
    {{ clean_name('s.psn_name') }} as psn_name, s.psn_name as psn_name_raw,
    {{ clean_code('s.admdvs') }} as admdvs,
    s.begn_date, s.end_date,
    (coalesce(s.begn_date, date'1900-01-01') <= {{ ref_date() }}
      and coalesce(s.end_date, date'9999-12-31') >= {{ ref_date() }}) as is_active_on_ref,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',', nullif(s.certno_flags, ''), nullif({{ name_flags('s.psn_name') }}, ''),
        case when {{ not_in_code_list('ca', clean_code('s.aid_type')) }} then 'AID_TYPE_INVALID' end,
        case when s.admdvs is not null and d.code is null then 'ADMDVS_UNKNOWN' end) as quality_flags
from {{ certno_std('src', '_certno_in') }} s
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('s.admdvs') }}
{{ code_list_join('ca', 'aid_type', clean_code('s.aid_type')) }}
{% endcall %}
