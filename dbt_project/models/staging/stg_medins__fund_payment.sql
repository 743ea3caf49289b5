-- 基金拨付 to institutions (contract section 6, optional): ym is the settlement month the payment covers
{% call latest_per_key() %}
select {{ clean_code('p.pay_id') }} as pay_id, {{ clean_code('p.fixmedins_code') }} as fixmedins_code,
       {{ clean_code('p.admdvs') }} as admdvs, {{ clean_code('p.insutype') }} as insutype, p.ym, p.amount, p.pay_date,
       p.updt_time, p._batch_id, p._file, p._line_number, p._ingest_time,
       concat_ws(',', case when p.admdvs is not null and d.code is null then 'ADMDVS_UNKNOWN' end) as quality_flags
from {{ source('medins', 'fund_payment') }} p
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('p.admdvs') }}
{% endcall %}
