-- 人员基本信息, standardised: one row per psn_no (a natural person may have several psn_no).
{% call latest_per_key() %}
with src as (
    select psn_no, psn_name, gend, brdy, naty, psn_cert_type, certno as _certno_in, tel, surv_stas,
           hsreg_addr, hsreg_admdvs, resd_addr, resd_admdvs, hsreg_book_no, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('medins', 'psn_info') }}
),
std as (
    select x.*, {{ clean_gend('x.gend') }} as gend_c
    from {{ certno_std('src', '_certno_in', gend=clean_gend('gend'), brdy='brdy') }} x
)
select
    {{ clean_code('s.psn_no') }}                       as psn_no,
    {{ clean_name('s.psn_name') }}                     as psn_name,
    s.psn_name                                         as psn_name_raw,
    s.gend_c                                           as gend,
    s.brdy,
    {{ clean_code('s.naty') }}                         as naty,
    {{ clean_code('s.psn_cert_type') }}                as psn_cert_type,
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_tel('s.tel') }}                           as tel,
    {{ tel_status('s.tel') }}                          as tel_status,
    {{ clean_code('s.surv_stas') }}                    as surv_stas,
    trim(s.hsreg_addr)                                 as hsreg_addr,
    {{ clean_code('s.hsreg_admdvs') }}                 as hsreg_admdvs,
    trim(s.resd_addr)                                  as resd_addr,
    {{ clean_code('s.resd_admdvs') }}                  as resd_admdvs,
    {{ clean_code('s.hsreg_book_no') }}                as hsreg_book_no,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',',
        nullif(s.certno_flags, ''),
        nullif({{ name_flags('s.psn_name') }}, ''),
        case when s.gend is not null and s.gend_c is null then 'GEND_INVALID' end,
        case when {{ tel_status('s.tel') }} = 'INVALID' then 'TEL_INVALID' end,
        case when s.hsreg_admdvs is not null and dh.code is null then 'HSREG_ADMDVS_UNKNOWN' end,
        case when s.resd_admdvs is not null and dr.code is null then 'RESD_ADMDVS_UNKNOWN' end,
        case when s.brdy > {{ ref_date() }} then 'BRDY_FUTURE' end
    )                                                  as quality_flags
from std s
left join {{ ref('gbt2260_divisions') }} dh on dh.code = {{ clean_code('s.hsreg_admdvs') }}
left join {{ ref('gbt2260_divisions') }} dr on dr.code = {{ clean_code('s.resd_admdvs') }}
{% endcall %}
