-- 医保结算清单 (contract section 6, optional): one per inpatient settlement, with the stay's diagnosis, procedure,
-- length of stay and its DRG / DIP group.  Codes are upper-cased (ICD codes arrive in either case).
{% call latest_per_key() %}
select {{ clean_code('l.setl_id') }} as setl_id,
       upper({{ clean_code('l.main_dise_codg') }}) as main_dise_codg,
       upper({{ clean_code('l.main_oprn_codg') }}) as main_oprn_codg,
       cast(l.ipt_days as int) as ipt_days,
       {{ clean_code('l.dscg_way') }} as dscg_way,
       upper({{ clean_code('l.drg_codg') }}) as drg_codg,
       upper({{ clean_code('l.dip_codg') }}) as dip_codg,
       l.list_sbmt_date,
       l.updt_time, l._batch_id, l._file, l._line_number, l._ingest_time,
       concat_ws(',', case when {{ not_in_code_list('dw', clean_code('l.dscg_way')) }} then 'DSCG_WAY_INVALID' end,
                 case when l.ipt_days < 0 then 'NEGATIVE_DAYS' end) as quality_flags
from {{ source('medins', 'setl_list') }} l
{{ code_list_join('dw', 'dscg_way', clean_code('l.dscg_way')) }}
{% endcall %}
