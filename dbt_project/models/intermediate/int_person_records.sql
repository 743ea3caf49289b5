-- Every source record that names a natural person, in one shape, ready for matching.
-- source_key is the record's contract key as delivered, key columns joined with '|'.
-- identity_rank orders the sources for survivorship of identity fields (1 = most authoritative).
{% set sources = [
  {'m': 'stg_police__hsreg_psn', 'src': 'police', 'tbl': 'hsreg_psn', 'rank': 1, 'hsreg_stas': 'hsreg_stas', 'naty': 'naty', 'key': 'certno_raw',
   'gend': 'gend', 'brdy': 'brdy', 'adm': 'hsreg_admdvs', 'book': 'hsreg_book_no', 'tel': 'null', 'death': "case when hsreg_stas = '2' then coalesce(cancel_date, date'9999-12-31') end"},
  {'m': 'stg_police__resd_permit', 'src': 'police', 'tbl': 'resd_permit', 'rank': 2, 'resd': 'resd_admdvs', 'resd_valid': 'is_valid_on_ref', 'key': 'certno_raw',
   'gend': 'gend', 'brdy': 'brdy', 'adm': 'resd_admdvs', 'book': 'null', 'tel': 'null', 'death': 'null'},
  {'m': 'stg_health__birth_cert', 'src': 'health', 'tbl': 'birth_cert', 'rank': 3, 'key': 'birth_cert_no',
   'gend': 'gend', 'brdy': 'brdy', 'adm': 'birth_admdvs', 'book': 'null', 'tel': 'null', 'death': 'null'},
  {'m': 'stg_medins__psn_info', 'src': 'medins', 'tbl': 'psn_info', 'rank': 4, 'resd': 'resd_admdvs', 'naty': 'naty', 'key': 'psn_no',
   'gend': 'gend', 'brdy': 'brdy', 'adm': 'hsreg_admdvs', 'book': 'hsreg_book_no', 'tel': 'tel', 'death': "case when surv_stas = '2' then date'9999-12-31' end"},
  {'m': 'stg_hrss__pension_insu', 'src': 'hrss', 'tbl': 'pension_insu', 'rank': 5, 'key': "concat_ws('|', certno_raw, pension_type)",
   'gend': 'null', 'brdy': 'null', 'adm': 'admdvs', 'book': 'null', 'tel': 'null', 'death': 'null'},
  {'m': 'stg_civil_affairs__assistance_obj', 'src': 'civil_affairs', 'tbl': 'assistance_obj', 'rank': 6, 'key': "concat_ws('|', certno_raw, aid_type)",
   'gend': 'null', 'brdy': 'null', 'adm': 'admdvs', 'book': 'null', 'tel': 'null', 'death': 'null'},
  {'m': 'stg_tax__taxpayer', 'src': 'tax', 'tbl': 'taxpayer', 'rank': 7, 'key': "concat_ws('|', certno_raw, emp_uscc)",
   'gend': 'null', 'brdy': 'null', 'adm': 'null', 'book': 'null', 'tel': 'null', 'death': 'null'},
  {'m': 'stg_civil_affairs__death_cremation', 'src': 'civil_affairs', 'tbl': 'death_cremation', 'rank': 8, 'key': 'certno_raw',
   'gend': 'null', 'brdy': 'null', 'adm': 'admdvs', 'book': 'null', 'tel': 'null', 'death': "coalesce(death_date, date'9999-12-31')"},
  {'m': 'stg_health__death_cert', 'src': 'health', 'tbl': 'death_cert', 'rank': 9, 'key': 'certno_raw',
   'gend': 'null', 'brdy': 'null', 'adm': 'admdvs', 'book': 'null', 'tel': 'null', 'death': "coalesce(death_date, date'9999-12-31')"},
  {'m': 'stg_national__national_uninsured', 'src': 'national', 'tbl': 'national_uninsured', 'rank': 10, 'key': 'certno_raw',
   'gend': 'null', 'brdy': 'null', 'adm': 'hsreg_admdvs', 'book': 'null', 'tel': 'null', 'death': 'null'},
  {'m': 'stg_national__insured_elsewhere', 'src': 'national', 'tbl': 'insured_elsewhere', 'rank': 11, 'name': 'null', 'key': "concat_ws('|', certno_raw, insutype)",
   'gend': 'null', 'brdy': 'null', 'adm': 'null', 'book': 'null', 'tel': 'null', 'death': 'null'},
] %}
with unioned as (
{% for s in sources %}
    select '{{ s.src }}' as source, '{{ s.tbl }}' as source_table, {{ s.key }} as source_key,
           {{ s.rank }} as identity_rank,
           certno, certno_norm, certno_status,
           cast({{ s.get('name', 'psn_name') }} as string) as psn_name,
           cast({{ s.gend }} as string) as gend_field,
           cast({{ s.brdy }} as date) as brdy_field,
           cast({{ s.adm }} as string) as admdvs,
           cast({{ s.book }} as string) as hsreg_book_no,
           cast({{ s.tel }} as string) as tel,
           cast({{ s.death }} as date) as death_evidence,
           cast({{ s.get('hsreg_stas', 'null') }} as string) as hsreg_stas,
           cast({{ s.get('resd', 'null') }} as string) as resd_admdvs,
           cast({{ s.get('resd_valid', 'null') }} as boolean) as resd_valid,
           cast({{ s.get('naty', 'null') }} as string) as naty,
           updt_time, _ingest_time
    from {{ ref(s.m) }}
    {% if not loop.last %}union all{% endif %}
{% endfor %}
)
select
    concat_ws(':', source, source_table, source_key) as record_id,
    source, source_table, source_key, identity_rank,
    certno, certno_norm, certno_status,
    psn_name,
    substring(psn_name, 1, 1) as surname,
    -- sex and birth date: the record's own field, else what a readable ID number says
    -- (a number with a wrong check digit still carries a plausible birth date and sex digit)
    coalesce(case when gend_field in ('1', '2') then gend_field end,
             case when certno_norm is not null and {{ certno_birth('certno_norm') }} is not null
                  then {{ certno_sex('certno_norm') }} end)        as gend,
    coalesce(brdy_field, {{ certno_birth('certno_norm') }})         as brdy,
    admdvs, hsreg_book_no, tel, death_evidence, hsreg_stas, resd_admdvs, resd_valid, naty,
    updt_time, _ingest_time
from unioned
