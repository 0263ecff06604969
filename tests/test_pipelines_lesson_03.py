"""Lesson 6.3 (course/06-data-pipelines/03-idempotent-jobs-and-backfills.ipynb): the output
tables of tpmlab.pipelines.jobs it teaches on, every fact its text states about the week's jobs
(checked by an independent count in pandas), and its Try it, which must tick for the right job
and not for plausible wrong ones.

Running the lesson with nbval (TPMLAB_STRICT_TRY_IT=1 in ``make test``) proves that every cell
runs and that its Try it does not pass as released; this file checks what running cannot see.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tpmlab import data
from tpmlab.errors import CheckFailed
from tpmlab.paths import REPO_ROOT
from tpmlab.pipelines import jobs

LESSON = REPO_ROOT / "course" / "06-data-pipelines" / "03-idempotent-jobs-and-backfills.ipynb"

TASKS = (
    "INSERT INTO daily_tasks (day, created, completed) "
    "SELECT event_date, SUM(event_name = 'task_created'), SUM(event_name = 'task_completed') "
    "FROM events WHERE event_date = ? GROUP BY event_date"
)
ACTIVE = (
    "INSERT INTO daily_active (day, platform, active_users) "
    "SELECT event_date, platform, COUNT(DISTINCT user_id) FROM events "
    "WHERE event_date = ? GROUP BY event_date, platform"
)


def overwrite(table, insert):
    def job(con, day):
        with con:
            con.execute(f"DELETE FROM {table} WHERE day = ?", (day,))
            con.execute(insert, (day,))

    return job


def append(con, day):
    with con:
        con.execute(TASKS, (day,))


def delete_everything(con, day):
    with con:
        con.execute("DELETE FROM daily_tasks")
        con.execute(TASKS, (day,))


def skip_done(con, day):
    if not con.execute("SELECT 1 FROM daily_tasks WHERE day = ?", (day,)).fetchone():
        append(con, day)


def upsert_without_key(con, day):  # daily_tasks has no unique key: OR REPLACE replaces nothing
    with con:
        con.execute(TASKS.replace("INSERT INTO", "INSERT OR REPLACE INTO"), (day,))


@pytest.fixture(scope="module")
def eng():
    return data.engine()


# ---------------------------------------------------------------- tpmlab.pipelines.jobs helpers


def test_scratch_for_holds_the_outputs_and_their_earlier_day(eng):
    con, late = jobs.scratch_for(eng)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"events", "daily_events", "daily_tasks"}
    assert jobs.rows(con, jobs.DAILY_EVENTS) == [jobs.DAILY_EVENTS.history]
    assert jobs.rows(con, jobs.DAILY_TASKS) == [jobs.DAILY_TASKS.history]
    # the same events and late partition as the assignment's scratch warehouse
    con2, late2 = jobs.scratch(eng)
    q = "SELECT * FROM events ORDER BY event_id"
    assert con.execute(q).fetchall() == con2.execute(q).fetchall()
    pd.testing.assert_frame_equal(late, late2)
    con.close()
    con2.close()


@pytest.mark.slow
def test_run_schedule_on_daily_active_is_the_assignments_exercise(eng):
    """The generic schedule, on the assignment's table, gives exactly :func:`jobs.exercise`'s
    steps, and its expectations are :func:`jobs.expected` before and after the late partition."""
    job = overwrite("daily_active", ACTIVE)
    steps = jobs.run_schedule(job, eng, jobs.DAILY_ACTIVE, seed=3)
    assert {k: steps[k] for k in ("first run", "run again", "backfill")} == jobs.exercise(
        job, eng, seed=3
    )
    con, late = jobs.scratch(eng)
    assert steps["expected on time"] == jobs.expected(con)
    jobs.land(con, late)
    assert steps["expected after backfill"] == jobs.expected(con)
    con.close()
    assert jobs.schedule_problems(steps, jobs.DAILY_ACTIVE) == []


def test_expected_rows_of_daily_tasks_by_independent_pandas(eng):
    con, late = jobs.scratch_for(eng)
    events = pd.read_sql("SELECT event_date, event_name FROM events", con)
    for step in ("on time", "after the late partition"):
        want = (
            events.assign(
                created=events["event_name"].eq("task_created"),
                completed=events["event_name"].eq("task_completed"),
            )
            .groupby("event_date")[["created", "completed"]]
            .sum()
        )
        got = jobs.expected_rows(con, jobs.DAILY_TASKS)
        assert got[0] == jobs.DAILY_TASKS.history, step
        assert got[1:] == [(d, int(r.created), int(r.completed)) for d, r in want.iterrows()], step
        jobs.land(con, late)
        events = pd.concat([events, late[["event_date", "event_name"]]])
    con.close()


@pytest.mark.slow
def test_check_job_ticks_the_overwrite_and_names_each_mistake(eng):
    assert jobs.check_job(overwrite("daily_tasks", TASKS), eng, jobs.DAILY_TASKS, seed=5)
    for wrong, message in [
        (append, "appends"),
        (upsert_without_key, "appends"),
        (delete_everything, "is gone"),
        (skip_done, "recompute its day"),
        (overwrite("daily_tasks", TASKS.replace("task_completed", "comment_added")), "differs"),
    ]:
        with pytest.raises(CheckFailed, match=message):
            jobs.check_job(wrong, eng, jobs.DAILY_TASKS, seed=5)
