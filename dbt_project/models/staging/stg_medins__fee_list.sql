{% call latest_per_key() %}
select {{ clean_code('feedetl_sn') }} as feedetl_sn, {{ clean_code('setl_id') }} as setl_id,
       {{ clean_code('med_list_codg') }} as med_list_codg, {{ clean_code('med_chrgitm_type') }} as med_chrgitm_type,
       trim(list_name) as list_name, cnt, pric, det_item_fee_sumamt,
       {{ clean_code('bilg_dr_codg') }} as bilg_dr_codg, fee_ocur_time,
       updt_time, _batch_id, _file, _line_number, _ingest_time
from {{ source('medins', 'fee_list') }}
{% endcall %}
