-- 缴费明细: assessed contributions (clct_flag 1 paid / 0 assessed, not yet received)
{% call latest_per_key() %}
select
    {{ clean_code('psn_no') }} as psn_no,
    {{ clean_code('insutype') }} as insutype,
    accrym,
    psn_clct_amt, emp_clct_amt,
    coalesce(psn_clct_amt, 0) + coalesce(emp_clct_amt, 0) as clct_amt,
    {{ clean_code('clct_flag') }} as clct_flag,
    clct_time,
    updt_time, _batch_id, _file, _line_number, _ingest_time,
    case when {{ clean_code('clct_flag') }} not in ('0', '1') then 'CLCT_FLAG_INVALID' end as quality_flags
from {{ source('medins', 'contrib') }}
{% endcall %}
