"""Helpers for module 6's graded questions: a count query's one number, a result's event ids.

:func:`single_count` runs a learner's SQL (read-only, through :mod:`tpmlab.sql.answers`) that must
return one row with one column ``rows`` and gives back that number; :func:`event_id_summary`
reduces a deduplicated result to what identifies it (row count, distinct ids, a digest of the
sorted ids), so that a hidden test records a few values instead of 200,000 rows.

:func:`edge_cases_engine` is a third dataset for the hidden tests, beside Orbit and its re-seeded
copy: a few hand-made rows of ``raw_events`` (and ``users``) holding each case a question's rule
speaks of but the generated data never has: a row delivered three times, a re-delivery under
three ids and one with no user, an event exactly 48 hours late, a ``+00:00`` offset, an offset
sent by another client than iOS, a misspelt lower-case name, and re-deliveries whose first copy
received is neither the smallest id nor the first row stored. The answers on it come from the
solution like every other answer, so a rule that only matches the generated data by accident
loses the points.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pandas as pd
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from tpmlab.errors import CheckFailed
from tpmlab.sql.answers import check_columns, run_learner_query


def single_count(sql, eng, name: str) -> int:
    """The one number a count query returns (one row, one column named ``rows``)."""
    got = run_learner_query(sql, eng, name=name)
    check_columns(got, ["rows"], name, rows=1)
    value = got.iloc[0, 0]
    if value is None or pd.isna(value):
        raise CheckFailed(
            f"`{name}` returned NULL: COUNT(*) counts rows, SUM over no rows is NULL. "
            "Count the rows that break the rule with COUNT(*) (or COALESCE the sum to 0)."
        )
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CheckFailed(
            f"`{name}` returned {value!r}, not a count. Return COUNT(...) AS rows."
        ) from None


def event_id_summary(frame: pd.DataFrame) -> dict[str, object]:
    """Rows, distinct event ids and a digest of the sorted ids of a result with ``event_id``."""
    ids = sorted(int(i) for i in frame["event_id"])
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
    return {"rows": len(ids), "distinct event ids": len(set(ids)), "ids digest": digest}


#: ``raw_events`` rows of :func:`edge_cases_engine`: (event_id, user_id, event_name, event_time,
#: received_at, platform, client_version), in the order they are stored.
EDGE_ROWS = (
    # plain rows, one per client's time format
    (1, 1, "signup", "2025-06-10T08:00:00Z", "2025-06-10 08:00:05", "web", "2025.6.0"),
    (2, 2, "signup", "2025-06-10T10:00:00+02:00", "2025-06-10 08:00:09", "ios", "5.12.0"),
    (3, 3, "signup", "2025-06-10 08:00:00", "2025-06-10 08:00:07", "android", "5.11.0"),
    # a re-delivery under three ids; the copy received first (102) is stored first, not the
    # smallest id
    (102, 1, "task_created", "2025-06-10T09:00:00Z", "2025-06-10 09:00:02", "web", "2025.6.0"),
    (103, 1, "task_created", "2025-06-10T09:00:00Z", "2025-06-10 09:00:40", "web", "2025.6.0"),
    (101, 1, "task_created", "2025-06-10T09:00:00Z", "2025-06-10 09:01:30", "web", "2025.6.0"),
    # a re-delivery whose first copy received (121) is stored last and has the larger id
    (120, 2, "comment_added", "2025-06-10T12:00:00+02:00", "2025-06-10 10:05:00", "ios", "5.12.0"),
    (121, 2, "comment_added", "2025-06-10T12:00:00+02:00", "2025-06-10 10:00:03", "ios", "5.12.0"),
    # a row delivered twice inside a re-delivery, whose other id (105) arrived first
    (104, 3, "task_completed", "2025-06-11 07:00:00", "2025-06-11 07:03:00", "android", "5.11.0"),
    (104, 3, "task_completed", "2025-06-11 07:00:00", "2025-06-11 07:03:00", "android", "5.11.0"),
    (105, 3, "task_completed", "2025-06-11 07:00:00", "2025-06-11 07:00:04", "android", "5.11.0"),
    # a row delivered three times (two extra copies)
    (110, 4, "project_created", "2025-06-11T07:30:00Z", "2025-06-11 07:30:02", "web", "2025.6.0"),
    (110, 4, "project_created", "2025-06-11T07:30:00Z", "2025-06-11 07:30:02", "web", "2025.6.0"),
    (110, 4, "project_created", "2025-06-11T07:30:00Z", "2025-06-11 07:30:02", "web", "2025.6.0"),
    # logged-out pings re-delivered under two ids: no user, so not a re-delivery of Q2
    (106, None, "signup", "2025-06-11T08:00:00Z", "2025-06-11 08:00:01", "web", "2025.6.0"),
    (107, None, "signup", "2025-06-11T08:00:00Z", "2025-06-11 08:00:30", "web", "2025.6.0"),
    # exactly 48 hours late (not late), one second more (late), and late only once the offset
    # is read (48.5 hours in UTC, 46.5 by the local clock)
    (130, 4, "task_created", "2025-06-10T00:00:00Z", "2025-06-12 00:00:00", "web", "2025.6.0"),
    (131, 4, "task_created", "2025-06-10T00:00:01Z", "2025-06-12 00:00:02", "web", "2025.6.0"),
    (132, 2, "task_created", "2025-06-10T02:00:00+02:00", "2025-06-12 00:30:00", "ios", "5.12.0"),
    # +00:00 is UTC; an offset can come from another client than iOS; iOS can send UTC
    (
        140,
        1,
        "comment_added",
        "2025-06-12T08:00:00+00:00",
        "2025-06-12 08:00:03",
        "web",
        "2025.6.1",
    ),
    (
        141,
        3,
        "comment_added",
        "2025-06-12T03:00:00-05:00",
        "2025-06-12 08:00:04",
        "android",
        "5.12.0",
    ),
    (142, 2, "comment_added", "2025-06-12T08:00:00Z", "2025-06-12 08:00:02", "ios", "5.12.1"),
    (143, 5, "task_created", "2025-06-12T08:30:00Z", "2025-06-12 08:30:02", "ios", "5.12.1"),
    # names outside the tracking plan: misspelt lower case, Title_Case, kebab-case
    (150, 1, "task_deleted", "2025-06-12T09:00:00Z", "2025-06-12 09:00:02", "web", "2025.6.1"),
    (151, 3, "Task_Created", "2025-06-12 09:00:00", "2025-06-12 09:00:03", "android", "5.12.0"),
    (152, 1, "task-created", "2025-06-12T09:10:00Z", "2025-06-12 09:10:02", "web", "2025.6.1"),
    # a deleted account's user id (orphaned), once with an exact copy
    (160, 999, "invite_sent", "2025-06-12T10:00:00Z", "2025-06-12 10:00:02", "web", "2025.6.1"),
    (160, 999, "invite_sent", "2025-06-12T10:00:00Z", "2025-06-12 10:00:02", "web", "2025.6.1"),
    (
        161,
        999,
        "invite_accepted",
        "2025-06-12 10:05:00",
        "2025-06-12 10:05:03",
        "android",
        "5.12.0",
    ),
)
#: ``users`` rows of :func:`edge_cases_engine` (only the columns the questions read).
EDGE_USERS = (1, 2, 3, 4, 5)


def edge_cases_engine(only: Iterable[int] | None = None) -> Engine:
    """An in-memory SQLite database with :data:`EDGE_ROWS` as ``raw_events`` and
    :data:`EDGE_USERS` in ``users`` (one connection, so every query sees the same data).

    ``only`` keeps the rows of those event ids alone: a public check runs a learner's query on
    one case (a row stored three times, an event exactly 48 hours late) and names it."""
    rows = EDGE_ROWS if only is None else [r for r in EDGE_ROWS if r[0] in set(only)]
    eng = create_engine("sqlite://", poolclass=StaticPool)
    with eng.begin() as conn:
        raw = conn.connection.dbapi_connection
        raw.execute(
            "CREATE TABLE raw_events (event_id INTEGER NOT NULL, user_id INTEGER, "
            "event_name TEXT NOT NULL, event_time TEXT NOT NULL, received_at TEXT NOT NULL, "
            "platform TEXT NOT NULL, client_version TEXT NOT NULL)"
        )
        raw.executemany("INSERT INTO raw_events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        raw.execute("CREATE TABLE users (user_id INTEGER PRIMARY KEY)")
        raw.executemany("INSERT INTO users VALUES (?)", [(u,) for u in EDGE_USERS])
    return eng
