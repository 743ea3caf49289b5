{% call latest_per_key() %}
select {{ clean_code('emp_no') }} as emp_no, trim(emp_name) as emp_name, upper({{ clean_code('uscc') }}) as uscc,
       {{ clean_code('emp_type') }} as emp_type, {{ clean_code('admdvs') }} as admdvs,
       updt_time, _batch_id, _file, _line_number, _ingest_time
from {{ source('medins', 'emp_info') }}
{% endcall %}
