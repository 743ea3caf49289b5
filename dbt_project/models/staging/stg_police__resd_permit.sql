-- 居住证 (police): residents without local hukou.
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, psn_name, gend, brdy, resd_admdvs, resd_addr, issue_date, expire_date,
           updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('police', 'resd_permit') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_name('s.psn_name') }}                     as psn_name,
    s.psn_name                                         as psn_name_raw,
    {{ clean_gend('s.gend') }}                         as gend,
    s.brdy,
    {{ clean_code('s.resd_admdvs') }}                  as resd_admdvs,
    trim(s.resd_addr)                                  as resd_addr,
    s.issue_date, s.expire_date,
    (coalesce(s.issue_date, date'1900-01-01') <= {{ ref_date() }}
      and coalesce(s.expire_date, date'9999-12-31') >= {{ ref_date() }})  as is_valid_on_ref,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',',
        nullif(s.certno_flags, ''),
        nullif({{ name_flags('s.psn_name') }}, ''),
        case when s.resd_admdvs is not null and dr.code is null then 'RESD_ADMDVS_UNKNOWN' end,
        case when s.expire_date < s.issue_date then 'EXPIRE_BEFORE_ISSUE' end
    )                                                  as quality_flags
from {{ certno_std('src', '_certno_in', gend=clean_gend('gend'), brdy='brdy') }} s
left join {{ ref('gbt2260_divisions') }} dr on dr.code = {{ clean_code('s.resd_admdvs') }}
{% endcall %}
