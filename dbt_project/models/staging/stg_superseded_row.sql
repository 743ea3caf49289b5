-- History of the repeated business keys the staging models resolved (macro latest_per_key: latest batch, then
-- latest line): one row per superseded source row, pointing at it in bronze by batch, file and line (the row
-- itself stays in bronze and its Delta history), with the row that was kept.
{%- set tables = var('contract_keys', {}) %}
{%- if not tables %}
  {{ exceptions.raise_compiler_error("var contract_keys is missing: run dbt through `yibao transform`") }}
{%- endif %}
{% for table, keys in tables.items() | sort %}
select '{{ table.split("__")[0] }}' as source,
       '{{ table.split("__")[1] }}' as source_table,
       concat_ws('|', {% for k in keys %}cast({{ k }} as string){% if not loop.last %}, {% endif %}{% endfor %}) as business_key,
       _key_versions as key_versions,
       _batch_id as kept_batch_id, _file as kept_file, _line_number as kept_line_number,
       x.batch_id as superseded_batch_id, x.file as superseded_file, x.line_number as superseded_line_number
from (select *, explode(from_json(_key_superseded, 'array<struct<batch_id:string,file:string,line_number:bigint>>')) as x
      from {{ ref('stg_' ~ table) }} where _key_superseded is not null) t
{% if not loop.last %}union all{% endif %}
{% endfor %}
