"""tpmlab.pipelines.jobs and .answers: the scheduler's steps tell an idempotent partition
overwrite from an append and from a job that skips a day it already wrote, and the late
partition really changes the week's numbers; count answers give clear messages."""

from __future__ import annotations

import pytest

from tpmlab import data
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
