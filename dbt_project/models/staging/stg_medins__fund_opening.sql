-- 基金年初滚存结余
select {{ clean_code('admdvs') }} as admdvs, {{ clean_code('insutype') }} as insutype, year, amount,
       updt_time, _batch_id, _ingest_time
from {{ source('medins', 'fund_opening') }}
