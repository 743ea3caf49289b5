-- 参保信息: one row per psn_no x insutype
{% call latest_per_key() %}
select
    {{ clean_code('i.psn_no') }} as psn_no,
    {{ clean_code('i.insutype') }} as insutype,
    {{ clean_code('i.psn_type') }} as psn_type,
    {{ clean_code('i.psn_insu_stas') }} as psn_insu_stas,
    i.crt_insu_date, i.paus_insu_date,
    {{ clean_code('i.insu_admdvs') }} as insu_admdvs,
    coalesce(d.pooling_region, {{ clean_code('i.insu_admdvs') }}) as insu_pool,
    {{ clean_code('i.emp_no') }} as emp_no,
    trim(i.emp_name) as emp_name,
    i.updt_time, i._batch_id, i._file, i._line_number, i._ingest_time,
    concat_ws(',',
        case when {{ not_in_code_list('cs', clean_code('i.psn_insu_stas')) }} then 'STAS_INVALID' end,
        case when {{ not_in_code_list('ct', clean_code('i.insutype')) }} then 'INSUTYPE_INVALID' end,
        case when i.insu_admdvs is not null and d.code is null then 'ADMDVS_UNKNOWN' end,
        case when p.psn_no is null then 'PSN_NO_UNKNOWN' end) as quality_flags
from {{ source('medins', 'psn_insu') }} i
left join {{ ref('gbt2260_divisions') }} d on d.code = {{ clean_code('i.insu_admdvs') }}
{{ code_list_join('cs', 'psn_insu_stas', clean_code('i.psn_insu_stas')) }}
{{ code_list_join('ct', 'insutype', clean_code('i.insutype')) }}
left join (select distinct psn_no from {{ source('medins', 'psn_info') }}) p on p.psn_no = i.psn_no
{% endcall %}
