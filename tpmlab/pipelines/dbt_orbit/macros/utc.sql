{#- event_time as the clients send it (web: '...Z', iOS: local time with an offset such as
    '+02:00', Android: no offset, which is UTC) converted to a UTC timestamp. -#}
{% macro utc(column) -%}
    case
        when regexp_matches({{ column }}, '([+-][0-9]{2}:[0-9]{2}|Z)$')
            then cast(timezone('UTC', cast({{ column }} as timestamptz)) as timestamp)
        else cast({{ column }} as timestamp)
    end
{%- endmacro %}
