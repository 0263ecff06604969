{#- The warehouse's "now", fixed to var('as_of') so that source freshness is deterministic:
    dbt's freshness query compares max(loaded_at_field) with current_timestamp(). -#}
{% macro duckdb__current_timestamp() -%}
    cast('{{ var("as_of") }}' as timestamp)
{%- endmacro %}
