-- 缴费明细: assessed contributions (clct_flag 1 paid / 0 assessed, not yet received)
{% call latest_per_key() %}
select
    {{ clean_code('c.psn_no') }} as psn_no,
    {{ clean_code('c.insutype') }} as insutype,
    c.accrym,
    c.psn_clct_amt, c.emp_clct_amt,
    coalesce(c.psn_clct_amt, 0) + coalesce(c.emp_clct_amt, 0) as clct_amt,
    {{ clean_code('c.clct_flag') }} as clct_flag,
    c.clct_time,
    c.updt_time, c._batch_id, c._file, c._line_number, c._ingest_time,
    case when {{ not_in_code_list('cf', clean_code('c.clct_flag')) }} then 'CLCT_FLAG_INVALID' end as quality_flags
from {{ source('medins', 'contrib') }} c
{{ code_list_join('cf', 'clct_flag', clean_code('c.clct_flag')) }}
{% endcall %}
