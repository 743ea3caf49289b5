-- The memory of person_id across runs: every source record ever resolved, with the person_id it got.
-- Read (by name, not ref, to avoid a cycle) by int_person_clusters so that a person without a canonical
-- ID number keeps the id its records had, whatever records arrive later.  Parquet (a JVM Spark without
-- Delta) has no MERGE: there it is rebuilt from this run's records, so only records still present are remembered.
-- full_refresh=false: `yibao run --full-refresh` rebuilds everything else but keeps this memory.
{{ config(materialized=('incremental' if var('table_format') == 'delta' else 'table'),
          incremental_strategy='merge', unique_key='record_id',
          full_refresh=false) }}
-- It merges only the records whose person_id is new or changed (int_person_registry_changes): resolved_at is when
-- the record got the person_id it has.
select record_id, person_id, current_timestamp() as resolved_at
from {{ ref('int_person_registry_changes') }}
