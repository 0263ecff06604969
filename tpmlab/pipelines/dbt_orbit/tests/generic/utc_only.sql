{#- Fails on every row whose timestamp text carries a non-zero UTC offset (local time). -#}
{% test utc_only(model, column_name) %}
select {{ column_name }}
from {{ model }}
where regexp_matches({{ column_name }}, '[+-][0-9]{2}:[0-9]{2}$')
  and not regexp_matches({{ column_name }}, '[+-]00:00$')
{% endtest %}
