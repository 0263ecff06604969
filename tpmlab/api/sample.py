"""A tiny Orbit-shaped SQLite database for the practice API's own tests.

It has the same tables and columns as Orbit's dataset (``users``, ``projects``, ``tasks``,
``events``; see ``datasets/README.md``) but a few hundred rows, with deliberate ties in
``created_at`` so that sorting and cursor pagination are tested where they are easy to get wrong.
The course itself always serves the real dataset.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

FMT = "%Y-%m-%d %H:%M:%S"
EVENT_NAMES = ("signup", "project_created", "task_created", "task_completed", "invite_sent")

SCHEMA = """
CREATE TABLE users (user_id INTEGER PRIMARY KEY, signup_at TEXT, signup_date TEXT, country TEXT,
  platform TEXT, channel TEXT, workspace_id INTEGER, is_workspace_owner INTEGER);
CREATE TABLE projects (project_id INTEGER PRIMARY KEY, workspace_id INTEGER, name TEXT,
  created_by INTEGER, created_at TEXT, archived INTEGER);
CREATE TABLE tasks (task_id INTEGER PRIMARY KEY, project_id INTEGER, title TEXT,
  created_by INTEGER, assignee_id INTEGER, status TEXT, priority TEXT, created_at TEXT,
  completed_at TEXT);
CREATE TABLE events (event_id INTEGER PRIMARY KEY, user_id INTEGER, session_id INTEGER,
  event_time TEXT, event_date TEXT, event_name TEXT, platform TEXT, project_id INTEGER);
"""


def build_sample_db(
    path: str | Path,
    *,
    users: int = 60,
    projects: int = 15,
    tasks: int = 240,
    events: int = 500,
    seed: int = 1,
) -> Path:
    """Write a small database to ``path`` (overwritten) and return the path."""
    path = Path(path)
    path.unlink(missing_ok=True)
    rng = random.Random(seed)
    t0 = datetime(2025, 1, 1)
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
        for u in range(1, users + 1):
            t = t0 + timedelta(minutes=rng.randrange(200_000))
            con.execute(
                "INSERT INTO users VALUES (?,?,?,?,?,?,?,?)",
                (
                    u,
                    t.strftime(FMT),
                    t.strftime("%Y-%m-%d"),
                    rng.choice(["US", "GB", "DE", "IN"]),
                    rng.choice(["web", "ios", "android"]),
                    rng.choice(["organic", "paid_search", "referral"]),
                    1 + u % 5,
                    int(u <= 5),
                ),
            )
        for p in range(1, projects + 1):
            t = t0 + timedelta(minutes=rng.randrange(200_000))
            con.execute(
                "INSERT INTO projects VALUES (?,?,?,?,?,?)",
                (p, 1 + p % 5, f"Project {p}", rng.randrange(1, users + 1), t.strftime(FMT),
                 int(p % 7 == 0)),
            )  # fmt: skip
        for k in range(1, tasks + 1):
            t = t0 + timedelta(hours=rng.randrange(300))  # ~240 tasks in 300 hours: many ties
            status = rng.choice(["todo", "in_progress", "done"])
            done = (t + timedelta(days=1)).strftime(FMT) if status == "done" else None
            con.execute(
                "INSERT INTO tasks VALUES (?,?,?,?,?,?,?,?,?)",
                (k, rng.randrange(1, projects + 1), f"Task {k}", rng.randrange(1, users + 1),
                 rng.choice([None, rng.randrange(1, users + 1)]), status,
                 rng.choice(["low", "medium", "high"]), t.strftime(FMT), done),
            )  # fmt: skip
        for e in range(1, events + 1):
            t = t0 + timedelta(minutes=7 * e)
            con.execute(
                "INSERT INTO events VALUES (?,?,?,?,?,?,?,?)",
                (e, rng.randrange(1, users + 1), e // 3, t.strftime(FMT), t.strftime("%Y-%m-%d"),
                 rng.choice(EVENT_NAMES), rng.choice(["web", "ios"]),
                 rng.choice([None, rng.randrange(1, projects + 1)])),
            )  # fmt: skip
        con.commit()
    finally:
        con.close()
    return path
