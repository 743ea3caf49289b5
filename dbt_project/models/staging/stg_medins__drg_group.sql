-- CHS-DRG groups of a year (contract section 6, optional): relative weight RW, average stay and cost
{% call latest_per_key() %}
select g.year, upper({{ clean_code('g.drg_codg') }}) as drg_codg, trim(g.drg_name) as drg_name,
       g.weight, g.avg_days, g.avg_cost,
       g.updt_time, g._batch_id, g._file, g._line_number, g._ingest_time
from {{ source('medins', 'drg_group') }} g
{% endcall %}
