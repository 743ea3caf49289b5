-- 医疗救助 paid outside one-stop settlement (手工报销; contract section 6, optional, civil affairs).  setl_id names
-- the settlement the payment assists when the department knows it.
{% call latest_per_key() %}
with src as (
    select pay_id, certno as _certno_in, aid_type, setl_id, amount, pay_date, admdvs,
           updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('civil_affairs', 'assistance_pay') }}
)
select {{ clean_code('s.pay_id') }} as pay_id,
       s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
       {{ clean_code('s.aid_type') }} as aid_type, {{ clean_code('s.setl_id') }} as setl_id, s.amount, s.pay_date,
       {{ clean_code('s.admdvs') }} as admdvs,
       s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
       concat_ws(',', nullif(s.certno_flags, ''),
           case when {{ not_in_code_list('ca', clean_code('s.aid_type')) }} then 'AID_TYPE_INVALID' end,
           case when s.admdvs is not null and d.code is null then 'ADMDVS_UNKNOWN' end) as quality_flags
from {{ certno_std('src', '_certno_in') }} s
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('s.admdvs') }}
{{ code_list_join('ca', 'aid_type', clean_code('s.aid_type')) }}
{% endcall %}
