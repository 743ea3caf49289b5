{% call latest_per_key() %}
with src as (
    select prac_code, prac_name, certno as _certno_in, prac_type, fixmedins_code, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ source('medins', 'practitioner') }}
)
select {{ clean_code('s.prac_code') }} as prac_code, {{ clean_name('s.prac_name') }} as prac_name,
       s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
       {{ clean_code('s.prac_type') }} as prac_type, {{ clean_code('s.fixmedins_code') }} as fixmedins_code,
       s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time
from {{ certno_std('src', '_certno_in') }} s
{% endcall %}
