{#
  Post-hook of an incremental staging model: delete the rows whose bronze row is gone.

  An incremental model reads only the rows ingested since its last run, so it never sees a row that bronze
  deleted (a correction with del_flag = 1) or that a full snapshot dropped.  Every staging row carries the
  provenance of its bronze row (_batch_id, _file, _line_number), which is unique in bronze; a staging row whose
  provenance no longer exists in bronze is deleted.  Runs only on an incremental run of a Delta table (the
  first run and the Parquet path build the table from bronze whole).  Costs one anti-join on the three
  provenance columns of both tables per run.
#}
{% macro drop_rows_gone_from_source(source_relation) -%}
{%- if is_incremental() and var('table_format') == 'delta' -%}
merge into {{ this }} as t
using (
    select s._batch_id, s._file, s._line_number
    from {{ this }} s
    left anti join (select _batch_id, _file, _line_number from {{ source_relation }}) b
      on s._batch_id = b._batch_id and s._file = b._file and s._line_number = b._line_number
) as gone
on t._batch_id = gone._batch_id and t._file = gone._file and t._line_number = gone._line_number
when matched then delete
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}
