{#- The two basic medical-insurance schemes (险种), named once: the vars insutype_employee (职工基本医疗保险, 310)
    and insutype_resident (城乡居民基本医疗保险, 390) in dbt_project.yml.  Their names are in the code_list seed
    (code_type basic_insutype); a model that needs what a scheme MEANS uses these macros, never the literals. -#}
{% macro insutype_employee() %}'{{ var("insutype_employee") }}'{% endmacro %}
{% macro insutype_resident() %}'{{ var("insutype_resident") }}'{% endmacro %}
{% macro basic_insutypes() %}({{ insutype_employee() }}, {{ insutype_resident() }}){% endmacro %}

{#- Person types (psn_type, code_list seed) a rule needs the meaning of, named once: the working employees who
    owe a 310 contribution every month (在职职工 11, 灵活就业人员 13) and the retirees (退休人员 12), who owe none. -#}
{% macro psn_types_working() %}('11', '13'){% endmacro %}
{% macro psn_type_retiree() %}'12'{% endmacro %}
