{#
  Incremental models (stg_medins__setl, int_person_registry) merge with schema evolution: when a release of the
  product adds a column to such a model, the existing table takes it on the next run instead of failing it
  (Sail has no ALTER TABLE ... ADD COLUMNS, so dbt's on_schema_change cannot add it; MERGE WITH SCHEMA
  EVOLUTION can).  Rows already in the table read the new column as null.  Overrides dbt-spark's merge for this
  project only; the project's models use neither merge_update_columns nor merge_exclude_columns.
#}
{% macro spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
  {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
  {%- set keys = [] if not unique_key else (unique_key if unique_key is sequence and unique_key is not mapping
                                             and unique_key is not string else [unique_key]) -%}
  {%- for key in keys %}{% do predicates.append('DBT_INTERNAL_SOURCE.' ~ key ~ ' = DBT_INTERNAL_DEST.' ~ key) %}{% endfor -%}
  {%- if not predicates %}{% do predicates.append('FALSE') %}{% endif -%}
  merge with schema evolution into {{ target }} as DBT_INTERNAL_DEST
      using {{ source }} as DBT_INTERNAL_SOURCE
      on {{ predicates | join(' and ') }}
      when matched then update set *
      when not matched then insert *
{% endmacro %}
