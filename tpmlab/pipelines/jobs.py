"""A daily-aggregate job on a scratch warehouse: run it, run it again, out of order, backfill.

:func:`scratch` makes an in-memory SQLite "warehouse" with Orbit's clean events of a week
(``events``, each with the time it reached the warehouse) and the job's output table
``daily_active`` (one row per day and platform: distinct active users). Events that arrived more
than 48 hours late are held back: they are the **late partition**, landing after the daily runs.
The table already holds an earlier day written by another run (:data:`HISTORY`), which a job that
rewrites only its own day must leave alone.

:func:`exercise` drives a learner's job ``job(con, day)`` as a scheduler would (lesson 6.3, the
module 6 assignment): every day of the week in a shuffled order, every day again, then the late
partition lands and the days it touches are backfilled. It returns the table after each step.
"""

from __future__ import annotations

import random
import sqlite3

import pandas as pd
from sqlalchemy import text

#: The week the job runs on (inside the raw layer's window, so arrival times are known).
JOB_DAYS = tuple(f"2025-06-{d:02d}" for d in range(10, 17))
#: A partition written before this week, by another run: a job for one day must not touch it.
HISTORY = ("2025-06-01", "web", 1234)
LATE_HOURS = 48

_EVENTS = """
SELECT e.event_id, e.user_id, e.event_date, e.event_name, e.platform,
       MIN(r.received_at) AS received_at,
       MAX(CASE WHEN julianday(r.received_at) - julianday(r.event_time) > :late / 24.0
                THEN 1 ELSE 0 END) AS late
FROM events AS e
JOIN raw_events AS r ON r.event_id = e.event_id
WHERE e.event_date BETWEEN :first AND :last
GROUP BY e.event_id
"""


def week_events(eng, days=JOB_DAYS) -> pd.DataFrame:
    """Orbit's clean events of ``days`` with the time each reached the warehouse and whether it
    arrived more than :data:`LATE_HOURS` hours late (``late`` = 1)."""
    frame = pd.read_sql(
        text(_EVENTS), eng, params={"first": min(days), "last": max(days), "late": LATE_HOURS}
    )
    return frame.sort_values("event_id").reset_index(drop=True)


def scratch(eng, days=JOB_DAYS) -> tuple[sqlite3.Connection, pd.DataFrame]:
    """A scratch warehouse for ``days`` and the late partition held back from it."""
    week = week_events(eng, days)
    con = sqlite3.connect(":memory:")
    con.execute(
        "CREATE TABLE events (event_id INTEGER, user_id INTEGER, event_date TEXT, "
        "event_name TEXT, platform TEXT, received_at TEXT)"
    )
    con.execute("CREATE TABLE daily_active (day TEXT, platform TEXT, active_users INTEGER)")
    con.execute("INSERT INTO daily_active VALUES (?, ?, ?)", HISTORY)
    on_time = week[week["late"] == 0].drop(columns="late")
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", on_time.itertuples(index=False))
    con.commit()
    return con, week[week["late"] == 1].drop(columns="late").reset_index(drop=True)


def table(con: sqlite3.Connection) -> list[tuple]:
    """``daily_active`` as sorted rows ``(day, platform, active_users)``."""
    rows = con.execute("SELECT day, platform, active_users FROM daily_active").fetchall()
    return sorted((str(d), str(p), int(n)) for d, p, n in rows)


def land(con: sqlite3.Connection, late: pd.DataFrame) -> list[str]:
    """The late partition lands in ``events``; returns the days it touches (to backfill)."""
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", late.itertuples(index=False))
    con.commit()
    return sorted(set(late["event_date"]))


def exercise(job, eng, seed: int = 0, days=JOB_DAYS) -> dict[str, list[tuple]]:
    """Run ``job(con, day)`` as a scheduler would and return ``daily_active`` after each step:
    ``"first run"`` (every day, shuffled with ``seed``), ``"run again"`` (every day once more)
    and ``"backfill"`` (after the late partition landed, its days run again)."""
    con, late = scratch(eng, days)
    try:
        order = list(days)
        random.Random(seed).shuffle(order)
        for day in order:
            job(con, day)
        first = table(con)
        for day in days:
            job(con, day)
        again = table(con)
        for day in land(con, late):
            job(con, day)
        return {"first run": first, "run again": again, "backfill": table(con)}
    finally:
        con.close()


def expected(con: sqlite3.Connection, days=JOB_DAYS) -> list[tuple]:
    """What ``daily_active`` should hold for ``days`` given the events now in ``con``, with the
    earlier partition :data:`HISTORY` (for public checks and lessons)."""
    marks = ",".join("?" * len(days))
    rows = con.execute(
        "SELECT event_date, platform, COUNT(DISTINCT user_id) FROM events "
        f"WHERE event_date IN ({marks}) GROUP BY event_date, platform",
        tuple(days),
    ).fetchall()
    return sorted([HISTORY, *((str(d), str(p), int(n)) for d, p, n in rows)])
