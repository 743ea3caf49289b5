-- 出生医学证明 (health): the child is a person record; mother / father numbers are standardised too
{% call latest_per_key() %}
with src as (
    select birth_cert_no, child_name, gend, brdy, mother_certno, father_certno, birth_admdvs,
           child_certno as _certno_in, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('health', 'birth_cert') }}
)
select
    {{ clean_code('s.birth_cert_no') }} as birth_cert_no,
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_name('s.child_name') }} as psn_name, s.child_name as psn_name_raw,
    {{ clean_gend('s.gend') }} as gend,
    s.brdy,
    {{ clean_certno('s.mother_certno') }} as mother_certno,   -- cleaned only: parents are not matched here
    {{ clean_certno('s.father_certno') }} as father_certno,
    {{ clean_code('s.birth_admdvs') }} as birth_admdvs,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',', nullif(s.certno_flags, ''), nullif({{ name_flags('s.child_name') }}, ''),
        case when s.birth_admdvs is not null and d.code is null then 'ADMDVS_UNKNOWN' end,
        case when s.brdy > {{ ref_date() }} then 'BRDY_FUTURE' end) as quality_flags
from {{ certno_std('src', '_certno_in', gend=clean_gend('gend'), brdy='brdy') }} s
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('s.birth_admdvs') }}
{% endcall %}
