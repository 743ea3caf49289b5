-- 集采药品耗材采购 (contract section 6, optional): per institution, item and month, the agreed annual quantity
-- and what was purchased
{% call latest_per_key() %}
select {{ clean_code('p.fixmedins_code') }} as fixmedins_code, {{ clean_code('p.med_list_codg') }} as med_list_codg,
       p.ym, cast(substr(p.ym, 1, 4) as int) as year, p.agreed_qty, p.purc_qty, p.purc_amt,
       p.updt_time, p._batch_id, p._file, p._line_number, p._ingest_time
from {{ source('medins', 'vbp_purchase') }} p
{% endcall %}
