-- The records whose person_id is new or changed since the person registry last saw them: what
-- int_person_registry merges.  A table of its own, so that the engine knows how few rows a day brings: Sail
-- builds a MERGE's join on the side its statistics say is the smaller and cannot spill it, and merging every
-- resolved record (~30M at 10M persons) failed on every run after the first (benchmarks/RESULTS.md, 2026-12-07).
-- The registry is read by name (not ref): it depends on this model; both live in one schema (intermediate).
{% set registry = adapter.get_relation(database=this.database, schema=this.schema, identifier='int_person_registry') %}
select c.record_id, c.person_id
from {{ ref('int_person_clusters') }} c
{%- if registry is not none and var('table_format') == 'delta' %}
left join (select record_id, person_id from {{ registry }}) r on r.record_id = c.record_id
where r.record_id is null or r.person_id <> c.person_id
{%- endif %}
