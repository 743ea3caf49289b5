-- 医保目录 (contract section 6, optional): drugs, items and materials with 甲乙丙 class, price ceiling
-- (pric_uplmt), gender limit (gend_lmt 1 限男 / 2 限女, null none) and the 集采 flag (vbp_flag 1, else 0)
{% call latest_per_key() %}
select {{ clean_code('m.med_list_codg') }} as med_list_codg, trim(m.list_name) as list_name,
       {{ clean_code('m.list_type') }} as list_type, {{ clean_code('m.chrgitm_lv') }} as chrgitm_lv,
       m.pric_uplmt,
       case when {{ clean_code('m.gend_lmt') }} in ('1', '2') then {{ clean_code('m.gend_lmt') }} end as gend_lmt,
       case when {{ clean_code('m.vbp_flag') }} = '1' then '1' else '0' end as vbp_flag,
       m.updt_time, m._batch_id, m._file, m._line_number, m._ingest_time,
       concat_ws(',', case when {{ clean_code('m.gend_lmt') }} is not null and {{ clean_code('m.gend_lmt') }} not in ('1', '2')
                          then 'GEND_LMT_INVALID' end,
                 case when {{ not_in_code_list('lt', clean_code('m.list_type')) }} then 'LIST_TYPE_INVALID' end,
                 case when {{ not_in_code_list('cl', clean_code('m.chrgitm_lv')) }} then 'CHRGITM_LV_INVALID' end)
           as quality_flags
from {{ source('medins', 'med_list') }} m
{{ code_list_join('lt', 'list_type', clean_code('m.list_type')) }}
{{ code_list_join('cl', 'chrgitm_lv', clean_code('m.chrgitm_lv')) }}
{% endcall %}
