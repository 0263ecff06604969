"""tpmlab.pipelines.jobs and .answers: the scheduler's steps tell an idempotent partition
overwrite from an append and from a job that skips a day it already wrote, and the late
partition really changes the week's numbers; count answers give clear messages."""

from __future__ import annotations

import contextlib

import pytest

from tpmlab import data
from tpmlab.data.schema import EVENT_NAMES
from tpmlab.errors import CheckFailed
from tpmlab.pipelines import jobs
from tpmlab.pipelines.answers import event_id_summary, single_count

# six scheduler runs of a week of Orbit (about 20 s of CPU)
pytestmark = pytest.mark.slow

INSERT = (
    "INSERT INTO daily_active (day, platform, active_users) "
    "SELECT event_date, platform, COUNT(DISTINCT user_id) FROM events "
    "WHERE event_date = ? GROUP BY event_date, platform"
)


def overwrite(con, day):
    with con:
        con.execute("DELETE FROM daily_active WHERE day = ?", (day,))
        con.execute(INSERT, (day,))


def append(con, day):
    with con:
        con.execute(INSERT, (day,))


def skip_done(con, day):
    if con.execute("SELECT 1 FROM daily_active WHERE day = ?", (day,)).fetchone():
        return
    append(con, day)


@pytest.fixture(scope="module")
def eng():
    return data.engine()


def test_overwrite_is_idempotent_and_backfills(eng):
    steps = jobs.exercise(overwrite, eng, seed=3)
    con, late = jobs.scratch(eng)
    on_time = jobs.expected(con)
    jobs.land(con, late)
    everything = jobs.expected(con)
    con.close()
    assert len(late) > 0 and on_time != everything  # the late partition changes the numbers
    assert steps["first run"] == steps["run again"] == on_time
    assert steps["backfill"] == everything
    assert jobs.HISTORY in steps["backfill"]
    # one row per day and platform of the week, and the earlier day's row
    assert len(everything) == 3 * len(jobs.JOB_DAYS) + 1


def test_append_and_skip_are_caught(eng):
    appended = jobs.exercise(append, eng)
    assert appended["first run"] != appended["run again"]  # the second run doubles each day
    skipped = jobs.exercise(skip_done, eng)
    assert skipped["first run"] == skipped["run again"]  # looks idempotent...
    assert skipped["backfill"] == skipped["run again"]  # ...but the late events never count
    assert skipped["backfill"] != jobs.exercise(overwrite, eng)["backfill"]


def test_the_order_does_not_matter_for_a_partitioned_job(eng):
    assert jobs.exercise(overwrite, eng, seed=1) == jobs.exercise(overwrite, eng, seed=2)


def test_single_count_messages(eng):
    users = data.manifest()["row_counts"]["users"]
    assert single_count("SELECT COUNT(*) AS rows FROM users", eng, "q") == users
    with pytest.raises(CheckFailed, match="missing the column"):
        single_count("SELECT COUNT(*) AS n FROM users", eng, "q")
    with pytest.raises(CheckFailed, match="returned NULL"):
        single_count("SELECT SUM(user_id) AS rows FROM users WHERE 1 = 0", eng, "q")
    with pytest.raises(CheckFailed, match="row"):
        single_count("SELECT user_id AS rows FROM users LIMIT 2", eng, "q")


def test_event_id_summary_tells_sets_apart():
    import pandas as pd

    a = event_id_summary(pd.DataFrame({"event_id": [3, 1, 2]}))
    assert a == event_id_summary(pd.DataFrame({"event_id": [1, 2, 3]}))
    assert a["rows"] == 3 and a["distinct event ids"] == 3
    assert a["ids digest"] != event_id_summary(pd.DataFrame({"event_id": [1, 2, 4]}))["ids digest"]
    assert event_id_summary(pd.DataFrame({"event_id": [1, 1]}))["distinct event ids"] == 1


# ---------------------------------------------------------------- what exercise() cannot see


def two_commits(con, day):
    con.execute("DELETE FROM daily_active WHERE day = ?", (day,))
    con.commit()
    con.execute(INSERT, (day,))
    con.commit()


def no_commit(con, day):
    con.execute("DELETE FROM daily_active WHERE day = ?", (day,))
    con.execute(INSERT, (day,))


def from_day_on(con, day):
    with con:
        con.execute("DELETE FROM daily_active WHERE day >= ?", (day,))
        for d in [d for d in jobs.JOB_DAYS if d >= day]:
            con.execute(INSERT, (d,))


def per_platform(con, day):
    found = con.execute(
        "SELECT platform, COUNT(DISTINCT user_id) FROM events WHERE event_date = ? "
        "GROUP BY platform",
        (day,),
    ).fetchall()
    with con:
        for platform, users in found:
            con.execute("DELETE FROM daily_active WHERE day = ? AND platform = ?", (day, platform))
            con.execute("INSERT INTO daily_active VALUES (?, ?, ?)", (day, platform, users))


def swallows(con, day):
    with contextlib.suppress(Exception):  # what a learner writes "so the job never crashes"
        overwrite(con, day)


def test_edge_cases_pass_the_overwrite_and_name_each_other_mistake(eng):
    """Each of these jobs passes :func:`jobs.exercise` and breaks one sentence of the question;
    the hidden test records :func:`jobs.edge_cases`, so each must differ from the overwrite."""
    right = jobs.edge_cases(overwrite, eng)
    assert right == {
        "later day kept": True,
        "stale row removed": True,
        "days left uncommitted": [],
        "failed write raised": True,
        "unchanged after a failed write": True,
    }
    wrong = {
        two_commits: {"unchanged after a failed write": False},
        no_commit: {"days left uncommitted": list(jobs.JOB_DAYS)},
        from_day_on: {"later day kept": False},
        per_platform: {"stale row removed": False},
        swallows: {"failed write raised": False},
    }
    for job, differs in wrong.items():
        assert jobs.exercise(job, eng) == jobs.exercise(overwrite, eng), job.__name__
        assert jobs.edge_cases(job, eng) == {**right, **differs}, job.__name__


def test_edge_cases_dataset_holds_what_orbit_never_has():
    """The third dataset of the hidden tests: the right rule and a rule that only matches
    Orbit's data by accident give different answers on it (counts worked out by hand from
    answers.EDGE_ROWS)."""
    from tpmlab.pipelines.answers import edge_cases_engine
    from tpmlab.sql.answers import run_learner_query

    edge = edge_cases_engine()

    def count(where, table="raw_events"):
        return single_count(f"SELECT COUNT(*) AS rows FROM {table} WHERE {where}", edge, "q")

    extra_copies = single_count(
        "SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT * FROM raw_events)) AS rows "
        "FROM raw_events",
        edge,
        "q",
    )
    assert extra_copies == 4  # 104 twice, 110 three times, 160 twice
    assert count("julianday(received_at) - julianday(event_time) > 2") == 2  # 131, 132
    assert count("julianday(received_at) - julianday(event_time) >= 2") == 3  # and 130
    assert count("received_at > datetime(event_time, '+48 hours')") == 2  # another right way
    local = "substr(event_time, -6, 1) IN ('+', '-') AND substr(event_time, -5) <> '00:00'"
    assert count(local) == 5 != count("platform = 'ios'") == 6
    assert count("event_time GLOB '*[+-][0-9][0-9]:[0-9][0-9]'") == 6  # +00:00 counted
    names = ", ".join(f"'{n}'" for n in EVENT_NAMES)
    assert count(f"event_name NOT IN ({names})") == 3
    assert count("event_name GLOB '*[A-Z]*' OR event_name LIKE '%-%'") == 2
    first = (
        "SELECT event_id FROM (SELECT event_id, ROW_NUMBER() OVER (PARTITION BY user_id, "
        "event_name, event_time ORDER BY received_at) AS n FROM raw_events "
        "WHERE user_id IS NOT NULL) WHERE n = 1"
    )
    kept = set(run_learner_query(first, edge)["event_id"])
    assert {102, 105, 121} <= kept and not {101, 103, 104, 120} & kept
    bare = (
        "SELECT event_id FROM raw_events WHERE user_id IS NOT NULL "
        "GROUP BY user_id, event_name, event_time"
    )
    assert set(run_learner_query(bare, edge)["event_id"]) != kept
