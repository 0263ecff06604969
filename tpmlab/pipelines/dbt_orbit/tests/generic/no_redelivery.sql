{#- The same event delivered again under a new id: counts one failure per extra copy of the same
    combination of `columns` (rows with a null in them are left out). -#}
{% test no_redelivery(model, column_name, columns) %}
{{ config(fail_calc="coalesce(sum(extra_copies), 0)") }}
select {{ columns | join(', ') }}, count(distinct {{ column_name }}) - 1 as extra_copies
from {{ model }}
where {% for c in columns %}{{ c }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
group by {{ columns | join(', ') }}
having count(distinct {{ column_name }}) > 1
{% endtest %}
