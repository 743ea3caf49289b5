{#
  Sail trap: dropping a table only forgets the catalog entry; `create table ... location` over the
  Delta files left behind re-attaches them, so a re-seeded table would hold every row twice.
  Empty the table first (DELETE is a Delta commit), then let dbt-spark drop and re-create it.
#}
{% macro spark__reset_csv_table(model, full_refresh, old_relation, agate_table) %}
    {% if old_relation %}
        {% do run_query('delete from ' ~ old_relation.render()) %}
        {{ adapter.drop_relation(old_relation) }}
    {% endif %}
    {% set sql = create_csv_table(model, agate_table) %}
    {{ return(sql) }}
{% endmacro %}

{# Sail plans one huge INSERT ... VALUES slowly (superlinear); smaller statements load seeds faster. #}
{% macro spark__get_batch_size() %}
    {{ return(100) }}
{% endmacro %}
