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

Lesson 6.3 teaches on other output tables, so as not to give away the assignment's job: an
:class:`Output` names a table, its columns and the SQL of its rows (:data:`DAILY_EVENTS`,
:data:`DAILY_TASKS`; :data:`DAILY_ACTIVE` is the assignment's). :func:`scratch_for`,
:func:`rows`, :func:`expected_rows` and :func:`run_schedule` are :func:`scratch`, :func:`table`,
:func:`expected` and :func:`exercise` for any of them; :func:`check_job` runs a job through the
schedule and names what it gets wrong (a lesson's self-check).
"""

from __future__ import annotations

import functools
import random
import sqlite3
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import text

from tpmlab.errors import CheckFailed

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


#: A partition written after the job's week, by a later run: a job for one day must not touch it.
LATER = ("2025-06-20", "web", 4321)
#: A platform with a row in the first day's partition but no events that day (left by an earlier,
#: wrong run): rewriting the day must remove it.
STALE_PLATFORM = "desktop"


def edge_cases(job, eng, days=JOB_DAYS) -> dict[str, object]:
    """What the module 6 question asks of ``job(con, day)`` beyond :func:`exercise`, on a fresh
    scratch warehouse that also holds a later day's row (:data:`LATER`) and a stale row
    (:data:`STALE_PLATFORM`) in the first day's partition:

    - ``"later day kept"``: the later day's row is still there after every day ran;
    - ``"stale row removed"``: the first day's stale row is gone after that day ran;
    - ``"days left uncommitted"``: the days after whose run the job left a transaction open
      (its change is lost if the process stops);
    - ``"failed write raised"`` and ``"unchanged after a failed write"``: a day runs again while
      every INSERT into ``daily_active`` fails (as a full disk would make it); the process then
      stops (its open transaction is rolled back). All or nothing: the table must be as before.
    """
    con, _ = scratch(eng, days)
    try:
        con.execute("INSERT INTO daily_active VALUES (?, ?, ?)", LATER)
        con.execute("INSERT INTO daily_active VALUES (?, ?, ?)", (days[0], STALE_PLATFORM, 7))
        con.commit()
        open_after = []
        for day in days:
            job(con, day)
            if con.in_transaction:
                open_after.append(day)
                con.commit()
        rows = table(con)
        found: dict[str, object] = {
            "later day kept": LATER in rows,
            "stale row removed": not any(p == STALE_PLATFORM for _, p, _ in rows),
            "days left uncommitted": open_after,
        }
        con.execute(
            "CREATE TEMP TRIGGER _full_disk BEFORE INSERT ON daily_active "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full (simulated)'); END"
        )
        con.commit()
        try:
            job(con, days[len(days) // 2])
        except Exception:
            found["failed write raised"] = True
        else:
            found["failed write raised"] = False
        con.rollback()
        con.execute("DROP TRIGGER _full_disk")
        con.commit()
        found["unchanged after a failed write"] = table(con) == rows
        return found
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


# ---------------------------------------------------------------- other output tables (lesson 6.3)


@dataclass(frozen=True)
class Output:
    """A daily job's output table: its name, its columns (the first is the day, the partition
    key), the SQL that computes its rows for the days bound to ``{days}`` from ``events``, and
    the row an earlier run wrote for a day before the week (which a job must leave alone)."""

    table: str
    columns: tuple[str, ...]
    select: str
    history: tuple


#: The dashboard's table of the module 6 assignment, as :func:`scratch` and :func:`expected` have it.
DAILY_ACTIVE = Output(
    "daily_active",
    ("day", "platform", "active_users"),
    "SELECT event_date, platform, COUNT(DISTINCT user_id) FROM events "
    "WHERE event_date IN ({days}) GROUP BY event_date, platform",
    HISTORY,
)
#: Lesson 6.3's worked example: the number of events per day and event name.
DAILY_EVENTS = Output(
    "daily_events",
    ("day", "event_name", "events"),
    "SELECT event_date, event_name, COUNT(*) FROM events "
    "WHERE event_date IN ({days}) GROUP BY event_date, event_name",
    ("2025-06-01", "task_created", 2468),
)
#: Lesson 6.3's Try it: per day, the tasks created and the tasks completed.
DAILY_TASKS = Output(
    "daily_tasks",
    ("day", "created", "completed"),
    "SELECT event_date, SUM(event_name = 'task_created'), SUM(event_name = 'task_completed') "
    "FROM events WHERE event_date IN ({days}) GROUP BY event_date",
    ("2025-06-01", 2345, 1234),
)


@functools.lru_cache(maxsize=4)
def _template(eng, days: tuple[str, ...]) -> tuple[sqlite3.Connection, pd.DataFrame]:
    """:func:`scratch` made once per engine and week (reading the week's events is most of the
    cost of a scratch warehouse), without ``daily_active``; :func:`scratch_for` copies it."""
    con, late = scratch(eng, days)
    con.execute("DROP TABLE daily_active")
    con.commit()
    return con, late


def scratch_for(
    eng, outputs: tuple[Output, ...] = (DAILY_EVENTS, DAILY_TASKS), days=JOB_DAYS
) -> tuple[sqlite3.Connection, pd.DataFrame]:
    """A scratch warehouse as :func:`scratch` makes it, with ``outputs`` as its output tables
    (each holding its earlier day's row) instead of ``daily_active``; and the late partition.
    Each call returns a fresh copy: what a job does to one leaves the next untouched."""
    template, late = _template(eng, tuple(days))
    con = sqlite3.connect(":memory:")
    template.backup(con)
    for out in outputs:
        con.execute(f"CREATE TABLE {out.table} ({', '.join(out.columns)})")
        marks = ", ".join("?" * len(out.columns))
        con.execute(f"INSERT INTO {out.table} VALUES ({marks})", out.history)
    con.commit()
    return con, late.copy()


def rows(con: sqlite3.Connection, out: Output) -> list[tuple]:
    """The table of ``out`` as sorted rows (the day as text, the other columns as they are)."""
    found = con.execute(f"SELECT {', '.join(out.columns)} FROM {out.table}").fetchall()
    return sorted((str(day), *rest) for day, *rest in found)


def expected_rows(con: sqlite3.Connection, out: Output, days=JOB_DAYS) -> list[tuple]:
    """What the table of ``out`` should hold for ``days`` given the events now in ``con``, with
    its earlier day's row."""
    found = con.execute(out.select.format(days=",".join("?" * len(days))), tuple(days)).fetchall()
    return sorted([out.history, *((str(day), *rest) for day, *rest in found)])


def run_schedule(job, eng, out: Output, seed: int = 0, days=JOB_DAYS) -> dict[str, list[tuple]]:
    """:func:`exercise` for the table of ``out``: run ``job(con, day)`` on every day in a
    shuffled order (``seed``), on every day again, then on the days the late partition touches
    once it has landed. Returns the table after each step (``"first run"``, ``"run again"``,
    ``"backfill"``) and what it should hold before and after the late partition
    (``"expected on time"``, ``"expected after backfill"``, from :func:`expected_rows`)."""
    con, late = scratch_for(eng, (out,), days)
    try:
        steps = {"expected on time": expected_rows(con, out, days)}
        order = list(days)
        random.Random(seed).shuffle(order)
        for day in order:
            job(con, day)
        steps["first run"] = rows(con, out)
        for day in days:
            job(con, day)
        steps["run again"] = rows(con, out)
        for day in land(con, late):
            job(con, day)
        steps["backfill"] = rows(con, out)
        steps["expected after backfill"] = expected_rows(con, out, days)
        return steps
    finally:
        con.close()


def schedule_problems(steps: dict[str, list[tuple]], out: Output) -> list[str]:
    """What is wrong with a job, read from its :func:`run_schedule` steps (``[]``: nothing)."""
    found = []
    if out.history not in steps["first run"]:
        found.append(
            f"the earlier day's row {out.history} is gone from {out.table}: rewrite only the rows "
            "of the job's own day (DELETE ... WHERE day = ?), not the whole table"
        )
    if steps["first run"] != steps["expected on time"]:
        found.append(
            f"after one run of each day, {out.table} differs from what the events give "
            f"({len(steps['first run'])} rows, {len(steps['expected on time'])} expected): "
            "check the columns and the aggregate of your INSERT ... SELECT"
        )
    if steps["run again"] != steps["first run"]:
        found.append(
            "running every day a second time changed the table: the job appends; delete the "
            "day's rows before inserting them again, in the same transaction (with con:)"
        )
    if steps["backfill"] != steps["expected after backfill"]:
        found.append(
            "after the late events landed and their days ran again, the table does not match the "
            "events: the job must recompute its day even when it already has rows for it"
        )
    return found


def check_job(job, eng, out: Output, seed: int = 0) -> bool:
    """``True`` if ``job`` passes :func:`run_schedule` on the table of ``out``; otherwise
    raises :class:`tpmlab.errors.CheckFailed` naming the first problem found (for self-checks)."""
    found = schedule_problems(run_schedule(job, eng, out, seed), out)
    if found:
        raise CheckFailed(found[0][0].upper() + found[0][1:] + ".")
    return True
