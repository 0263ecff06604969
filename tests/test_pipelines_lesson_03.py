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


def test_scratch_for_gives_a_fresh_copy_each_time(eng):
    con, _ = jobs.scratch_for(eng)
    with con:
        con.execute("DELETE FROM events")
        con.execute("INSERT INTO daily_tasks VALUES ('2025-06-10', 1, 1)")
    again, late = jobs.scratch_for(eng)
    assert again.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 0
    assert jobs.rows(again, jobs.DAILY_TASKS) == [jobs.DAILY_TASKS.history]
    late["event_date"] = "changed"
    assert "changed" not in set(jobs.scratch_for(eng)[1]["event_date"])
    con.close()
    again.close()


# ---------------------------------------------------------------- lesson 6.3: the text's claims


def test_6_3_claims_by_independent_pandas(eng):
    """The lesson's story, recomputed in pandas from the scratch warehouse's events: the re-run
    days double, the erased user's row, the late partition touching every day, only phones, and
    small next to each day's total; the first backfilled day is the lesson's third day."""
    con, late = jobs.scratch_for(eng)
    events = pd.read_sql("SELECT * FROM events", con)
    con.close()
    per_day = events.groupby("event_date").size()
    # "a day on which one user sent all of an event name's events": erasing that user leaves
    # the (day, event name) with no events, so an upsert keeps a stale row
    users = events.groupby(["event_date", "event_name"])["user_id"].unique()
    day, name = users[users.map(len) == 1].index[0]
    erased = events[events["user_id"] != users[(day, name)][0]]
    assert not ((erased["event_date"] == day) & (erased["event_name"] == name)).any()
    assert jobs.LATE_HOURS == 48  # "48 hours here"
    # late events: more than LATE_HOURS after the event, on every day of the week, phones only
    raw = pd.read_sql("SELECT event_id, event_time, received_at FROM raw_events", eng)
    raw["lag_h"] = (
        pd.to_datetime(raw["received_at"])
        - pd.to_datetime(raw["event_time"], utc=True, format="ISO8601").dt.tz_localize(None)
    ).dt.total_seconds() / 3600
    late_ids = set(raw.loc[raw["lag_h"] > jobs.LATE_HOURS, "event_id"])
    assert set(late["event_id"]) <= late_ids
    assert not set(events["event_id"]) & late_ids
    assert sorted(set(late["event_date"])) == list(jobs.JOB_DAYS)  # "every day of the week grew"
    assert set(late["platform"]) == {"ios", "android"}  # "offline phones"
    added = late.groupby("event_date").size()
    assert (added / per_day < 0.02).all()  # "small next to the day's total"


# ---------------------------------------------------------------- running the lesson

APPENDS = "        con.execute(TASKS_DAY, (day,))  # appends: a second run adds the day again"
RIGHT = (
    '        con.execute("DELETE FROM daily_tasks WHERE day = ?", (day,))\n'
    "        con.execute(TASKS_DAY, (day,))"
)
WRONG = [
    # the whole table emptied before the insert: the earlier day's row is lost
    '        con.execute("DELETE FROM daily_tasks")\n        con.execute(TASKS_DAY, (day,))',
    # an upsert on a table with no unique key: it replaces nothing, so it appends
    '        con.execute(TASKS_DAY.replace("INSERT INTO", "INSERT OR REPLACE INTO"), (day,))',
    # "already done" days are skipped: re-runs look fine, late events never count
    '        if not con.execute("SELECT 1 FROM daily_tasks WHERE day = ?", (day,)).fetchone():\n'
    "            con.execute(TASKS_DAY, (day,))",
]


@pytest.mark.slow
def test_6_3_try_it_and_the_lessons_computed_story():
    from tests.test_pipelines_lessons import run_lesson

    printed, reruns, probe = run_lesson(
        LESSON,
        {APPENDS: RIGHT},
        [(APPENDS, APPENDS)] + [(APPENDS, wrong) for wrong in WRONG],
        """_v = {n: {
    "first": len(s["first run"]), "again": len(s["run again"]),
    "first ok": s["first run"] == s["expected on time"],
    "same": s["run again"] == s["first run"],
    "backfill ok": s["backfill"] == s["expected after backfill"]} for n, s in steps.items()}
_u = {n: [got == want, len(set(got) - set(want))] for n, (got, want) in tables.items()}
_out = [(twice["events"] / once["events"]).tolist(), _v, other_order == steps["overwrite"], _u,
 sorted({r[0] for r in changed}), touched[2], touched, int(dashboard["restated"].sum()),
 len(late), (dashboard["restated"] > 0).all().item(), after == jobs.expected_rows(con,
 jobs.DAILY_EVENTS), before != after]
_out""",
    )
    assert "✅ tasks_job: right." in printed, printed
    assert printed.count("Not yet") == 0, printed
    for out in reruns:
        assert out.startswith("Not yet") and "✅" not in out, out
    assert "appends" in reruns[0] and "appends" in reruns[2]
    assert "is gone" in reruns[1] and "recompute its day" in reruns[3]
    ratio, verdict, same_order, upsert, changed, third, touched, restated, n_late, grew = probe[:10]
    matches, changed_at_all = probe[10:]
    # "Every re-run day doubled": the days from the third on, and only they
    assert ratio == [1.0, 1.0] + [2.0] * (len(jobs.JOB_DAYS) - 2)
    # "both jobs got the first run right ... Only the overwrite survives running again and
    # the backfill"; "Another order gives the overwrite job the very same table"
    assert verdict["append"]["first ok"] and verdict["overwrite"]["first ok"]
    assert not verdict["append"]["same"] and not verdict["append"]["backfill ok"]
    assert verdict["overwrite"]["same"] and verdict["overwrite"]["backfill ok"]
    assert verdict["append"]["again"] > verdict["append"]["first"] == verdict["overwrite"]["again"]
    assert same_order is True
    # "The upsert kept the erased user's row ... the overwrite ... exactly what the events say"
    assert upsert == {"upsert": [False, 1], "overwrite": [True, 0]}
    # backfill of one day changes that day only; the whole backfill adds every late event
    assert changed == [third] and touched == list(jobs.JOB_DAYS)
    assert restated == n_late > 0 and grew and matches and changed_at_all
