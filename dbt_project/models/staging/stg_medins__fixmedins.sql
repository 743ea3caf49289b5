{% call latest_per_key() %}
select {{ clean_code('f.fixmedins_code') }} as fixmedins_code, trim(f.fixmedins_name) as fixmedins_name,
       {{ clean_code('f.fixmedins_type') }} as fixmedins_type,
       coalesce(case when {{ clean_code('f.hosp_lv') }} in ('1','2','3','9') then {{ clean_code('f.hosp_lv') }} end, '9') as hosp_lv,
       {{ clean_code('f.admdvs') }} as admdvs,
       coalesce(d.pooling_region, d.city_code) as pooling_region,
       f.updt_time, f._batch_id, f._file, f._line_number, f._ingest_time,
       concat_ws(',', case when f.admdvs is not null and d.code is null then 'ADMDVS_UNKNOWN' end,
                 case when {{ clean_code('f.hosp_lv') }} not in ('1','2','3','9') then 'HOSP_LV_INVALID' end) as quality_flags
from {{ source('medins', 'fixmedins') }} f
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('f.admdvs') }}
{% endcall %}
