{#
  The one rule for an incremental staging model (issue 16): a run standardises only the rows ingested since the
  last run and merges them by the model's contract key (cleaned), instead of re-reading the source whole.

    {% call latest_per_key() %}
    {{ config(**incremental_staging()) }}
    with src as (select ... from {{ new_rows(source('medins', 'setl')) }})
    ...

  incremental_staging()  the model's config: incremental (merge by the contract key) on Delta; a table rebuilt
                         whole on Parquet (no MERGE) and while the quality gate keeps rows of the source out one
                         by one (var gated_sources, set by yibao.transform): such rows come back with their old
                         _ingest_time when their parent is released, which an incremental run would never read.
                         Post-hook drop_rows_gone_from_source: rows deleted in bronze (del_flag = 1) or dropped
                         by a full snapshot leave the model too.
  new_rows(relation)     on an incremental run, the relation's rows ingested after the latest _ingest_time
                         already in the model (a full snapshot rewrites every row with a new _ingest_time);
                         otherwise the relation itself.

  Used by stg_medins__setl only.  Measured at 1M persons (benchmarks/RESULTS.md, "Daily operation"): on Sail a
  MERGE of one day's rows costs more than rebuilding the model, because it rewrites every file it touches and
  a day's keys touch them all (stg_tax__taxpayer 10.6 s rebuilt, 43.0 s merged; the dbt build of a daily run
  153 s with every model rebuilt, 215 s with 22 staging models merged), so the other staging models stay tables.
  (Both figures carried latest_per_key's filter trap, found 2026-12-07; rebuilt, stg_tax__taxpayer takes 1.2 s now.
  On the 12-07 daily run stg_medins__setl itself took 14.7 s merged against 4.3 s rebuilt: its post-hook reads the
  whole source and model anyway.  Whether it should become a table again is open; see RESULTS.md.)

  What a rebuild does and a daily run does not: when two delivered keys clean to the same key in different
  batches, the later row replaces the earlier one in both, but _key_versions / _key_superseded (and so
  silver.stg_superseded_row) only count the versions a run saw together; and rows standardised on an earlier run
  keep that run's reference data (the divisions seed, var reference_date): after changing either, run
  `yibao run --full-refresh`.  Only for models that read their own source and static seeds.
#}
{% macro incremental_staging() -%}
  {%- set table = model.name[4:] -%}
  {%- set source_name, source_table = table.split('__', 1) -%}
  {%- set incremental = var('table_format') == 'delta' and table not in var('gated_sources', []) -%}
  {%- do return({
        'materialized': 'incremental' if incremental else 'table',
        'incremental_strategy': 'merge',
        'unique_key': var('contract_keys', {}).get(table),
        'post_hook': ["{{ drop_rows_gone_from_source(source('" ~ source_name ~ "', '" ~ source_table ~ "')) }}"]}) -%}
{%- endmacro %}

{% macro new_rows(relation) -%}
  {%- if is_incremental() -%}
(select * from {{ relation }}
 where _ingest_time > (select coalesce(max(_ingest_time), timestamp'1900-01-01 00:00:00') from {{ this }}))
  {%- else -%}
{{ relation }}
  {%- endif -%}
{%- endmacro %}
