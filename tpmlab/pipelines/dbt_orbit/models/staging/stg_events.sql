-- raw_events cleaned: one row per event (exact copies and re-deliveries dropped, the earliest
-- received copy kept), known users only, event names in the accepted spelling, times in UTC.
with typed as (
    select
        event_id,
        user_id,
        replace(lower(event_name), '-', '_') as event_name,
        {{ utc('event_time') }} as event_time,
        received_at,
        platform,
        client_version
    from {{ source('orbit', 'raw_events') }}
),

known_users as (
    select typed.*
    from typed
    inner join {{ source('orbit', 'users') }} as users using (user_id)
),

ranked as (
    select
        *,
        row_number() over (
            partition by user_id, event_name, event_time
            order by received_at, event_id
        ) as copy_number
    from known_users
)

select
    event_id,
    user_id,
    event_name,
    event_time,
    cast(event_time as date) as event_date,
    received_at,
    platform,
    client_version
from ranked
where copy_number = 1
