{#- Fails on every row received more than `hours` after its event time (in UTC). -#}
{% test arrives_within(model, column_name, received_at, hours) %}
select {{ column_name }}, {{ received_at }}
from {{ model }}
where {{ received_at }} > {{ utc(column_name) }} + to_hours({{ hours }})
{% endtest %}
