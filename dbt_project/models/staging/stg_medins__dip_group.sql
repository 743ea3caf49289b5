-- DIP groups of a year (contract section 6, optional): the score (分值) of each group
{% call latest_per_key() %}
select g.year, upper({{ clean_code('g.dip_codg') }}) as dip_codg, trim(g.dip_name) as dip_name, g.score,
       g.updt_time, g._batch_id, g._file, g._line_number, g._ingest_time
from {{ source('medins', 'dip_group') }} g
{% endcall %}
