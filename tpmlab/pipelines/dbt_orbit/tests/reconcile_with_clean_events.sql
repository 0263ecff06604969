-- One row per day on which the cleaned raw layer and the clean events table disagree
-- (events missing on one side, or the same event with another name, user or time).
with staged as (
    select event_id, user_id, event_name, event_time from {{ ref('stg_events') }}
),

clean as (
    select event_id, user_id, event_name, cast(event_time as timestamp) as event_time
    from {{ source('orbit', 'events') }}
),

mismatched as (
    (select * from staged except select * from clean)
    union all
    (select * from clean except select * from staged)
)

select cast(event_time as date) as event_date, count(*) as mismatched_rows
from mismatched
group by 1
