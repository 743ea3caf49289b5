-- 医保费实收 (what tax actually collected)
-- A person has a row per month and scheme, so each distinct ID number is standardised once and joined
-- back (at a million persons: 4.1M rows, about 350k distinct numbers; the regular expressions of
-- certno_std were most of this model's time).
{% call latest_per_key() %}
with src as (
    select certno as _certno_in, insutype, accrym, clct_amt, pay_date, emp_uscc, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('tax', 'medins_clct') }}
),
ids as (
    select i._certno_in, i.certno_raw, i.certno_norm, i.certno_status, i.certno, i.certno_flags
    from {{ certno_std('(select distinct _certno_in from src)', '_certno_in') }} i
)
select
    i.certno_raw, i.certno_norm, i.certno_status, i.certno, i.certno_flags,
    {{ clean_code('s.insutype') }} as insutype,
    s.accrym, s.clct_amt, s.pay_date,
    {{ clean_code('s.emp_uscc') }} as emp_uscc,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    nullif(i.certno_flags, '') as quality_flags
from src s
left join ids i on i._certno_in <=> s._certno_in
{% endcall %}
