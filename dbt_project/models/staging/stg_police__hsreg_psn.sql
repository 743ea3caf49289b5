-- 户籍人口 (police), standardised.  The police register is the authority for identity fields.
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, psn_name, gend, brdy, naty, hsreg_admdvs, hsreg_addr, hsreg_book_no,
           hsreg_stas, cancel_date, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('police', 'hsreg_psn') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_name('s.psn_name') }}                     as psn_name,
    s.psn_name                                         as psn_name_raw,
    {{ clean_gend('s.gend') }}                         as gend,
    s.brdy,
    {{ clean_code('s.naty') }}                         as naty,
    {{ clean_code('s.hsreg_admdvs') }}                 as hsreg_admdvs,
    trim(s.hsreg_addr)                                 as hsreg_addr,
    {{ clean_code('s.hsreg_book_no') }}                as hsreg_book_no,
    {{ clean_code('s.hsreg_stas') }}                   as hsreg_stas,
    s.cancel_date,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',',
        nullif(s.certno_flags, ''),
        nullif({{ name_flags('s.psn_name') }}, ''),
        case when s.gend is not null and {{ clean_gend('s.gend') }} is null then 'GEND_INVALID' end,
        case when s.hsreg_admdvs is not null and dh.code is null then 'HSREG_ADMDVS_UNKNOWN' end,
        case when {{ not_in_code_list('hs', clean_code('s.hsreg_stas')) }} then 'HSREG_STAS_INVALID' end
    )                                                  as quality_flags
from {{ certno_std('src', '_certno_in', gend=clean_gend('gend'), brdy='brdy') }} s
left join {{ ref('gbt2260_divisions') }} dh on dh.code = {{ clean_code('s.hsreg_admdvs') }}
{{ code_list_join('hs', 'hsreg_stas', clean_code('s.hsreg_stas')) }}
{% endcall %}
