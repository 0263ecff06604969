"""Orbit's metric definitions, in one place: the dashboard, the lessons and the checks use these.

Each is a :class:`tpmlab.metrics.Metric`: what is counted (numerator), over what (denominator),
which rows (``where``) and which column places a row in time. The grain and the window are
chosen when the metric is computed (:func:`tpmlab.metrics.compute`). Read a definition before
you quote its number: "task completions" counts the client's events, "tasks done" the server's
record of the same thing, and they only agree while tracking works.
"""

from __future__ import annotations

from tpmlab.metrics import Measure, Metric

ACTIVE_USERS = Metric(
    "active_users",
    "Distinct users with at least one event in the bucket (DAU at day grain, WAU at week).",
    numerator=Measure("events", "event_time", distinct="user_id"),
)

TASK_COMPLETIONS = Metric(
    "task_completions",
    "task_completed events the clients logged (by the platform of the session).",
    numerator=Measure("events", "event_time", where={"event_name": "task_completed"}),
)

TASKS_DONE = Metric(
    "tasks_done",
    "Tasks whose completed_at falls in the bucket: the server's record, the source of truth "
    "for completions (it has no platform).",
    numerator=Measure("tasks", "completed_at"),
)

TASKS_CREATED = Metric(
    "tasks_created",
    "task_created events the clients logged.",
    numerator=Measure("events", "event_time", where={"event_name": "task_created"}),
)

COMPLETING_USERS = Metric(
    "completing_users",
    "Distinct users with a task_completed event in the bucket.",
    numerator=Measure(
        "events", "event_time", where={"event_name": "task_completed"}, distinct="user_id"
    ),
)

COMPLETION_RATE = Metric(
    "completion_rate",
    "Share of active users who completed at least one task in the bucket: distinct completing "
    "users over distinct active users (both from events, in the same bucket and segment). The "
    "denominator is active users, not every signed-up user: inactive users cannot complete.",
    numerator=COMPLETING_USERS.numerator,
    denominator=ACTIVE_USERS.numerator,
)

COMPLETIONS_PER_ACTIVE_USER = Metric(
    "completions_per_active_user",
    "task_completed events per distinct active user in the bucket (a ratio of totals).",
    numerator=TASK_COMPLETIONS.numerator,
    denominator=ACTIVE_USERS.numerator,
)

ALL = {
    m.name: m
    for m in (
        ACTIVE_USERS,
        TASK_COMPLETIONS,
        TASKS_DONE,
        TASKS_CREATED,
        COMPLETING_USERS,
        COMPLETION_RATE,
        COMPLETIONS_PER_ACTIVE_USER,
    )
}
