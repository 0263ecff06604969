"""Measure access patterns on real engines: row store vs column store, key-value vs SQL, documents.

What the data-store lesson and assignment time, on Orbit's data, on this machine:

- :func:`dashboard_copies` puts the same events in an in-memory SQLite (a row store) and an
  in-memory DuckDB (a column store), so the dashboard's SQL (:data:`DASHBOARD_SQL`) can be timed
  on both; :func:`duckdb_copy` copies whole Orbit tables into DuckDB;
- :func:`median_seconds` times a callable the way a benchmark should (a warm-up run, then the
  median of several);
- :func:`session_tokens` makes Orbit's session tokens; :func:`load_sessions_kv` and
  :func:`load_sessions_sql` store them in a key-value server and in an indexed SQL table, for
  point lookups by token;
- :func:`task_documents` stores each task as one JSON document (with its project embedded), the
  document model, so a query across documents can be compared with the relational one.
"""

from __future__ import annotations

import hashlib
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from tpmlab import validate as check

#: The analytics dashboard's query: events and active users per day and platform.
DASHBOARD_SQL = (
    "SELECT event_date, platform, COUNT(*) AS events, COUNT(DISTINCT user_id) AS users "
    "FROM events GROUP BY event_date, platform ORDER BY event_date, platform"
)


def median_seconds(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed calls."""
    repeat = check.whole("repeat", repeat, low=1, fix="Time at least one run (repeat=3 or more).")
    warmup = check.whole("warmup", warmup, low=0)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def duckdb_copy(eng, tables: Sequence[str] = ("events",), columns: dict | None = None):
    """An in-memory DuckDB connection holding copies of Orbit ``tables`` read from ``eng``.

    ``columns`` maps a table to the columns to copy (all by default). The copy is read through
    pandas, so it works offline with any SQLAlchemy engine; loading is not part of any timing.
    """
    import duckdb

    con = duckdb.connect(":memory:")
    for table in tables:
        cols = ", ".join((columns or {}).get(table, ["*"]))
        frame = pd.read_sql(f"SELECT {cols} FROM {table}", eng)
        con.register("_frame", frame)
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM _frame")
        con.unregister("_frame")
    return con


def _date(name: str, value) -> str:
    try:
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    except (ValueError, TypeError):
        raise check.InvalidArgument(name, value, "a date such as '2025-06-16'") from None


def dashboard_copies(eng, since: str = "2025-06-16"):
    """The same rows of ``events`` (from ``since`` on) in a row store and a column store.

    Returns ``(sqlite, duck)``: an in-memory SQLite connection and an in-memory DuckDB connection,
    each with a table ``events(event_date, platform, user_id, event_name)``, so
    :data:`DASHBOARD_SQL` can be timed on both with the same data, both in memory.
    """
    import duckdb

    since = _date("since", since)
    frame = pd.read_sql(
        "SELECT event_date, platform, user_id, event_name FROM events WHERE event_date >= :since",
        eng,
        params={"since": since},
    )
    frame["event_date"] = frame["event_date"].astype(str)
    row = sqlite3.connect(":memory:")
    frame.to_sql("events", row, index=False)
    col = duckdb.connect(":memory:")
    col.register("_frame", frame)
    col.execute("CREATE TABLE events AS SELECT * FROM _frame")
    col.unregister("_frame")
    return row, col


def session_tokens(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` made-up session tokens (hex strings) with a user id each, reproducible from ``seed``."""
    n = check.whole("n", n, low=1)
    rng = np.random.default_rng(seed)
    users = rng.integers(1, 20_000, n)
    tokens = [hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:32] for i in range(n)]
    return pd.DataFrame({"token": tokens, "user_id": users})


def load_sessions_kv(client, sessions: pd.DataFrame, ttl_seconds: int = 3600) -> None:
    """Store each token as ``session:<token> -> user_id`` with a time to live, in one pipeline."""
    ttl_seconds = check.whole("ttl_seconds", ttl_seconds, low=1)
    pipe = client.pipeline(transaction=False)
    for token, user in zip(sessions["token"], sessions["user_id"], strict=True):
        pipe.set(f"session:{token}", int(user), ex=ttl_seconds)
    pipe.execute()


def load_sessions_sql(sessions: pd.DataFrame) -> sqlite3.Connection:
    """An in-memory SQLite table ``sessions(token PRIMARY KEY, user_id)`` holding ``sessions``."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE sessions (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL)")
    con.executemany(
        "INSERT INTO sessions VALUES (?, ?)",
        zip(sessions["token"], sessions["user_id"].astype(int), strict=True),
    )
    con.commit()
    return con


def task_documents(eng, since: str | None = None) -> sqlite3.Connection:
    """Orbit's tasks as JSON documents (one per task, its project embedded) in memory.

    ``since`` (a date, ``"2025-06-01"``) keeps the tasks created from that day on.

    Table ``task_docs(task_id INTEGER PRIMARY KEY, doc TEXT)``: the document model, where a read
    of one task is one lookup and a question across tasks (``json_extract`` on every document)
    reads them all.
    """
    since = _date("since", since) if since is not None else None
    tasks = pd.read_sql(
        "SELECT t.task_id, t.title, t.status, t.priority, t.created_at, "
        "p.project_id, p.name AS project_name, p.workspace_id "
        "FROM tasks t JOIN projects p ON p.project_id = t.project_id"
        + (" WHERE t.created_at >= :since" if since else ""),
        eng,
        params={"since": since} if since else None,
    )
    con = sqlite3.connect(":memory:")
    con.execute(
        "CREATE TEMP TABLE flat (task_id INTEGER, title TEXT, status TEXT, priority TEXT, "
        "created_at TEXT, project_id INTEGER, project_name TEXT, workspace_id INTEGER)"
    )
    con.executemany(
        "INSERT INTO flat VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        tasks.astype({"created_at": str}).itertuples(index=False, name=None),
    )
    con.execute("CREATE TABLE task_docs (task_id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
    con.execute(
        "INSERT INTO task_docs SELECT task_id, json_object('title', title, 'status', status, "
        "'priority', priority, 'created_at', created_at, 'project', json_object('id', "
        "project_id, 'name', project_name, 'workspace_id', workspace_id)) FROM flat"
    )
    con.execute("DROP TABLE flat")
    con.commit()
    return con
