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
  history.  The keys come from the data contract (yibao.contract, passed by yibao.transform as the
  var contract_keys), never from a second list.

  Cost: repeats are rare, and a window over a whole table sorts every column of every row (at 1M persons it
  made the staging layer ten times slower: fee_list alone 195 s).  So a probe first asks, on the key columns
  only, whether any cleaned key repeats; when none does (the usual case) the model is the plain select.  When
  some do, only the rows of the repeated keys go through the window; the others pass as they are.

  Join order: Sail builds a join's hash table on its left side (it cannot spill it), so the few repeated keys
  (d) and their rows (w) stand on the left of every join here, the whole table (s, n) on the right.  With the
  table on the left, stg_tax__medins_clct failed at 10M persons (pool exhausted, 2026-12-07).

  Engine trap (measured at 1M persons, 2026-12-07): never filter on a key column here (`where certno is not null`).
  The key is computed by certno_std in the same query, and the optimizer pushes such a filter below that
  projection, inlining certno_std's nested CASE into a filter, where it costs ~75 us a row instead of ~3
  (assistance_obj, 27k rows: 2.1 s for the filter alone).  So null keys are left to the joins, where they never
  match (`=`), and the probe counts keyed rows inside the aggregate.  Five staging models went from 79 s to 14 s.
#}
{% macro latest_per_key() -%}
{%- set table = model.name[4:] -%}
{%- set keys = var('contract_keys', {}).get(table) -%}
{%- if not keys -%}
  {{ exceptions.raise_compiler_error("latest_per_key: no contract key for " ~ table ~ " (var contract_keys)") }}
{%- endif -%}
{%- set body = caller() -%}
{%- set part = keys | join(', ') -%}
{%- set keyed -%}({% for k in keys %}{{ k }} is not null{% if not loop.last %} and {% endif %}{% endfor %}){%- endset -%}
{%- set repeats = true -%}
{%- if execute and not flags.WHICH in ('parse', 'compile', 'docs') -%}
  {%- set probe -%}
    select 1 as repeated from (select {{ part }} from ({{ body }}) s group by {{ part }}
                               having sum(case when {{ keyed }} then 1 else 0 end) > 1) x limit 1
  {%- endset -%}
  {%- set repeats = run_query(probe).rows | length > 0 -%}
{%- endif -%}
{%- if not repeats %}
select s.*, cast(1 as bigint) as _key_versions, cast(null as string) as _key_superseded
from (
{{ body }}
) s
{#- Always true, and not folded away by the optimizer: without a filter, a source of one file gets the whole
    projection pushed into its scan, and Sail 0.7 in cluster mode cannot send such a write to its workers
    ("ExtendedScalarUdf: no UDF found for nullif"; docs/scale-out.md). #}
where s._line_number is not null or s._line_number is null
{%- else %}
with s as (
{{ body }}
),
n as (select {{ part }}, _batch_id, _file, _line_number from s),
d as (select {{ part }} from n group by {{ part }} having count(*) > 1),
w as (
    select {{ part }}, t._batch_id as _w_batch, t._line_number as _w_line,
           row_number() over (partition by {{ part }} order by t._batch_id desc, t._line_number desc) as _key_rank,
           cast(count(*) over (partition by {{ part }}) as bigint) as _key_versions,
           to_json(filter(collect_list(named_struct('batch_id', t._batch_id, 'file', t._file,
                                                    'line_number', t._line_number)) over (partition by {{ part }}),
                          x -> not (x.batch_id = t._batch_id and x.line_number = t._line_number))) as _key_superseded
    from (select n.* from d join n on {% for k in keys %}n.{{ k }} = d.{{ k }}{% if not loop.last %} and {% endif %}{% endfor %}) t
)
select s.*, coalesce(w._key_versions, cast(1 as bigint)) as _key_versions, w._key_superseded
from w right join s on {% for k in keys %}s.{{ k }} = w.{{ k }} and {% endfor %}s._batch_id = w._w_batch and s._line_number = w._w_line
where w._key_rank is null or w._key_rank = 1
{%- endif %}
{%- endmacro %}
