-- 基金年初滚存结余
{% call latest_per_key() %}
select {{ clean_code('admdvs') }} as admdvs, {{ clean_code('insutype') }} as insutype, year, amount,
       updt_time, _batch_id, _file, _line_number, _ingest_time
from {{ source('medins', 'fund_opening') }}
{% endcall %}
