{#
  The one rule for repeated business keys in silver (contract key of the model's source table, after cleaning):
  keep the row of the latest batch, then the latest line of that batch (`_batch_id`, `_line_number` descending).

  Bronze keys are unique as delivered, but cleaning can make two delivered keys one ('P1' and 'P1 ', an ID number
  with full-width digits next to the clean one).  Rows whose key has a null column are not keys at all (an
  unreadable ID number): they are kept as they are, never collapsed into one another.

  Wrap a staging model's whole select:  {% call latest_per_key() %} select ... {% endcall %}
  Columns added: _key_versions (rows that had this key: > 1 means some were superseded) and _key_superseded
  (the superseded rows' batch, file and line as a JSON array, null when none; a plain string so that every
  reader of silver, dbt docs and DuckDB included, takes it), from which silver.stg_superseded_row keeps the
  history.  The keys come from the data contract (yibao.ingestion.contract, passed by yibao.transform as the
  var contract_keys), never from a second list.
#}
{% macro latest_per_key() -%}
{%- set table = model.name[4:] -%}
{%- set keys = var('contract_keys', {}).get(table) -%}
{%- if not keys -%}
  {{ exceptions.raise_compiler_error("latest_per_key: no contract key for " ~ table ~ " (var contract_keys)") }}
{%- endif -%}
{%- set part = keys | join(', ') -%}
{%- set keyed -%}({% for k in keys %}{{ k }} is not null{% if not loop.last %} and {% endif %}{% endfor %}){%- endset -%}
select ranked.* from (
    select s.*,
           case when {{ keyed }} then count(*) over (partition by {{ part }}) else 1 end as _key_versions,
           case when {{ keyed }} then row_number() over (partition by {{ part }} order by s._batch_id desc, s._line_number desc)
                else 1 end as _key_rank,
           case when {{ keyed }} and count(*) over (partition by {{ part }}) > 1 then
                to_json(filter(collect_list(named_struct('batch_id', s._batch_id, 'file', s._file,
                                                         'line_number', s._line_number)) over (partition by {{ part }}),
                               x -> not (x.batch_id = s._batch_id and x.line_number = s._line_number)))
           end as _key_superseded
    from (
{{ caller() }}
    ) s
) ranked
where ranked._key_rank = 1
{%- endmacro %}
