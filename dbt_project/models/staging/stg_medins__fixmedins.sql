{% call latest_per_key() %}
select {{ clean_code('f.fixmedins_code') }} as fixmedins_code, trim(f.fixmedins_name) as fixmedins_name,
       {{ clean_code('f.fixmedins_type') }} as fixmedins_type,
       coalesce(hl.code, '9') as hosp_lv,   -- a level not in the code list: 9 未定级
       {{ clean_code('f.admdvs') }} as admdvs,
       coalesce(d.pooling_region, d.city_code) as pooling_region,
       f.updt_time, f._batch_id, f._file, f._line_number, f._ingest_time,
       concat_ws(',', case when f.admdvs is not null and d.code is null then 'ADMDVS_UNKNOWN' end,
                 case when {{ not_in_code_list('hl', clean_code('f.hosp_lv')) }} then 'HOSP_LV_INVALID' end) as quality_flags
from {{ source('medins', 'fixmedins') }} f
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('f.admdvs') }}
{{ code_list_join('hl', 'hosp_lv', clean_code('f.hosp_lv')) }}
{% endcall %}
