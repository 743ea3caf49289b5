{% call latest_per_key() %}
select {{ clean_code('setl_id') }} as setl_id, {{ clean_code('violation_code') }} as violation_code,
       deduct_amt, audit_date, updt_time, _batch_id, _file, _line_number, _ingest_time
from {{ source('medins', 'audit_result') }}
{% endcall %}
