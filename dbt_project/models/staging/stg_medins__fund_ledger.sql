-- 基金收支 by month; direction I income / E expense
{% call latest_per_key() %}
select {{ clean_code('l.admdvs') }} as admdvs, {{ clean_code('l.insutype') }} as insutype, l.ym,
       upper({{ clean_code('l.direction') }}) as direction, {{ clean_code('l.item_type') }} as item_type, l.amount,
       l.updt_time, l._batch_id, l._file, l._line_number, l._ingest_time,
       concat_ws(',', case when {{ not_in_code_list('fd', 'upper(' ~ clean_code('l.direction') ~ ')') }} then 'DIRECTION_INVALID' end,
                 case when d.code is null then 'ADMDVS_UNKNOWN' end) as quality_flags
from {{ source('medins', 'fund_ledger') }} l
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('l.admdvs') }}
{{ code_list_join('fd', 'fund_direction', 'upper(' ~ clean_code('l.direction') ~ ')') }}
{% endcall %}
