-- 基金专户银行流水 (contract section 6, optional): direction I income / E expense; counterparty and memo as
-- delivered (the counterparty of a payment to an institution is normally its fixmedins_code)
{% call latest_per_key() %}
select {{ clean_code('b.txn_id') }} as txn_id, {{ clean_code('b.admdvs') }} as admdvs,
       {{ clean_code('b.insutype') }} as insutype, b.txn_date, upper({{ clean_code('b.direction') }}) as direction,
       b.amount, trim(b.counterparty) as counterparty, trim(b.memo) as memo,
       b.updt_time, b._batch_id, b._file, b._line_number, b._ingest_time,
       concat_ws(',', case when {{ not_in_code_list('fd', 'upper(' ~ clean_code('b.direction') ~ ')') }} then 'DIRECTION_INVALID' end,
                 case when b.admdvs is not null and d.code is null then 'ADMDVS_UNKNOWN' end) as quality_flags
from {{ source('medins', 'bank_stmt') }} b
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('b.admdvs') }}
{{ code_list_join('fd', 'fund_direction', 'upper(' ~ clean_code('b.direction') ~ ')') }}
{% endcall %}
