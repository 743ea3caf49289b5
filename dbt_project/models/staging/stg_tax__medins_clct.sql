-- 医保费实收 (what tax actually collected)
with src as (
    select certno as _certno_in, insutype, accrym, clct_amt, pay_date, emp_uscc, updt_time, _batch_id, _ingest_time
    from {{ source('tax', 'medins_clct') }}
)
select
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_code('s.insutype') }} as insutype,
    s.accrym, s.clct_amt, s.pay_date,
    {{ clean_code('s.emp_uscc') }} as emp_uscc,
    s.updt_time, s._batch_id, s._ingest_time,
    nullif(s.certno_flags, '') as quality_flags
from {{ certno_std('src', '_certno_in') }} s
