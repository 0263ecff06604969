"""Lesson 6.2 (course/06-data-pipelines/02-data-tests-and-contracts.ipynb): every fact its text
states about Orbit's raw and clean layers, checked by an independent count in pandas, what its
dbt runs show (read from the lesson's own kernel), and its Try-it, which must tick for the right
block and not for two plausible wrong ones.

Running the lesson with nbval (TPMLAB_STRICT_TRY_IT=1 in ``make test``) proves that every cell
runs and that the Try-it does not pass as released; this file checks what running cannot see.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_pipelines_lessons import run_lesson

from tpmlab.data.schema import EVENT_NAMES
from tpmlab.paths import REPO_ROOT

L62 = REPO_ROOT / "course" / "06-data-pipelines" / "02-data-tests-and-contracts.ipynb"
ACCEPTED = list(EVENT_NAMES)
HOUR = 3600.0


def volume_failures(raw: pd.DataFrame) -> list[tuple[str, str, int, int]]:
    """The lesson's volume rule in pandas: (day, platform) with fewer than half the rows of the
    same weekday a week earlier, a day with no rows counting 0, up to the last day with rows."""
    daily = raw.groupby([raw["utc"].dt.normalize(), "platform"]).size()
    last = daily.index.get_level_values(0).max()
    out = []
    for (day, platform), before in daily.items():
        today = day + pd.Timedelta(days=7)
        if today <= last:
            n = int(daily.get((today, platform), 0))
            if n < 0.5 * before:
                out.append((str(today.date()), platform, n, int(before)))
    return out


# ---------------------------------------------------------------- the text's claims


def test_6_2_the_clean_layers_promises_hold(orbit_engine):
    """Section 1: the lesson's block on the clean layer passes (users.user_id unique and not
    null; events' session_id not null, platform in the list, user_id in users)."""
    users = pd.read_sql("SELECT user_id FROM users", orbit_engine)["user_id"]
    events = pd.read_sql(
        "SELECT session_id, platform, user_id FROM events WHERE event_time >= '2025-06-01'",
        orbit_engine,
    )
    assert users.notna().all() and users.is_unique
    assert events["session_id"].notna().all()
    assert set(events["platform"]) == {"web", "ios", "android"}
    assert events["user_id"].isin(set(users)).all()


def test_6_2_reading_the_raw_failures(raw, orbit_manifest):
    p = orbit_manifest["raw_problems"]
    bad = raw[~raw["event_name"].isin(ACCEPTED)]
    # accepted_values returns one row per distinct bad name: their rows add up to the manifest's
    # count, and the distinct names are far fewer (what dbt's default fail_calc would report)
    assert len(bad) == p["bad_event_names"]["count"]
    assert 0 < bad["event_name"].nunique() < 100
    # "Title_Case and kebab-case names, one spelling per client build"
    kebab = bad["event_name"].str.contains("-")
    title = bad["event_name"].str.match(r"^[A-Z][a-z]+(_[A-Z][a-z]+)*$")
    assert (kebab ^ title).all()
    builds = bad.groupby(["platform", "client_version"])["event_name"].agg(
        lambda names: names.str.contains("-").mean()
    )
    assert len(builds) == 2 and set(builds) == {0.0, 1.0}
    # "utc_only fails on about a third of the rows because the iOS app sends local time"
    local = raw["event_time"].str.match(r".*[+-]\d\d:\d\d$") & ~raw["event_time"].str.endswith(
        "+00:00"
    )
    assert local.sum() == p["mixed_time_zones"]["count"]
    assert set(raw.loc[local, "platform"]) == {"ios"} and 0.30 < local.mean() < 0.37
    # "a few hundred orphaned users"; "the counts range over two orders of magnitude"
    assert 100 <= p["orphaned_user_ids"]["count"] < 1000
    counts = [p[k]["count"] for k in p if isinstance(p[k], dict) and "count" in p[k]]
    assert 100 <= max(counts) / min(counts) < 1000


def test_6_2_freshness_and_the_newest_row(raw):
    """'The newest row was received late on 11 July (a late phone event of June)'."""
    newest = raw.loc[pd.to_datetime(raw["received_at"]).idxmax()]
    assert newest["received_at"] == "2025-07-11 22:28:43"
    assert newest["platform"] in {"ios", "android"} and newest["utc"].month == 6
    assert newest["lag_s"] > 48 * HOUR


def test_6_2_volume_check_passes_on_june_and_finds_the_outage(raw):
    # "Android sends UTC, no offset": LIKE '2025-06-18%' is the UTC day, nothing else
    android = raw[raw["platform"] == "android"]
    assert not android["event_time"].str.contains(r"Z$|[+-]\d\d:\d\d$").any()
    held = android["event_time"].str.startswith("2025-06-18")
    assert (held == (android["utc"].dt.date.astype(str) == "2025-06-18")).all() and held.any()
    assert volume_failures(raw) == []
    # "Orbit's traffic has a weekly rhythm (weekends are quieter)", on every platform
    daily = raw.groupby([raw["utc"].dt.normalize(), "platform"]).size().unstack()
    weekend = daily.index.day_of_week >= 5
    assert (daily[weekend].max() < daily[~weekend].min()).all()
    outage = raw.drop(android[held].index)
    week_before = int((android["utc"].dt.date.astype(str) == "2025-06-11").sum())
    assert volume_failures(outage) == [("2025-06-18", "android", 0, week_before)]
    # an inner join to today's counts (the common mistake) finds nothing on the same outage
    daily = outage.groupby([outage["utc"].dt.normalize(), "platform"]).size().rename("n")
    shifted = daily.reset_index().assign(utc=lambda d: d["utc"] + pd.Timedelta(days=7))
    inner = shifted.merge(daily.reset_index(), on=["utc", "platform"], suffixes=("_before", ""))
    assert not (inner["n"] < 0.5 * inner["n_before"]).any()


# ---------------------------------------------------------------- running the lesson

PROMISE = 'promise_block = ...  # a YAML string that starts with "columns:"'
RIGHT = '''promise_block = """
columns:
  - name: event_time
    data_tests:
      - arrives_within:
          arguments:
            received_at: received_at
            hours: 72
          config:
            severity: warn
"""'''
# the project's own 48 hours copied instead of the mobile team's promise
WRONG_48 = RIGHT.replace("hours: 72", "hours: 48")
# no severity: the test fails (an error that stops a build) instead of warning
WRONG_NO_SEVERITY = RIGHT.replace("          config:\n            severity: warn\n", "")

PROBE = """
_raw = raw[["test", "column", "status", "failures", "manifest count"]].astype(str)
_clean = results[results["source"] == "clean"][["relation", "column", "test", "status"]]
_staged = results[(results["relation"] == "stg_events") & (results["kind"] == "test")]
_model = results[results["kind"] == "model"]
_check = pipelines.workspace()
(_check.project / "models" / "staging" / "stg_events.yml").write_text(STG_CONTRACT)
_rolled_back = pipelines.build(_check, select="stg_events")
_check.close()
_out = [
    _raw.values.tolist(),
    _clean.values.tolist(),
    _staged["status"].tolist(),
    _model["status"].tolist(),
    len(bad_names), int(bad_names["n_records"].sum()),
    fresh[["status", "age_hours"]].values.tolist()[0], str(fresh["max_loaded_at"].iat[0]),
    [[s, round(float(a), 4)] for s, a in zip(later["status"], later["age_hours"])],
    outage[["test", "column", "status", "failures"]].astype(str).values.tolist(),
    int(still.iat[0, 0]),
    volume["status"].tolist(), outage_fresh["status"].tolist(),
    renamed["status"].value_counts().to_dict(), renamed["message"].iat[0],
    retyped["status"].value_counts().to_dict(),
    contracted["status"].tolist(), contracted["message"].iat[0],
    _rolled_back[["name", "status"]].values.tolist(),
]
_out"""


@pytest.mark.slow
def test_6_2_lesson_runs_its_dbt_checks_and_its_try_it(raw, orbit_manifest, orbit_engine):
    june_events = pd.read_sql(
        "SELECT event_id FROM events WHERE event_time >= '2025-06-01'", orbit_engine
    )
    printed, reruns, probe = run_lesson(
        L62,
        {PROMISE: RIGHT},
        [(PROMISE, WRONG_48), (PROMISE, WRONG_NO_SEVERITY)],
        PROBE,
    )
    p = orbit_manifest["raw_problems"]
    late_72h = int((raw["lag_s"] > 72 * HOUR).sum())
    assert 0 < late_72h < p["late_events"]["count"]
    # the right block ticks, after dbt warned once per row more than 72 hours late (pandas)
    assert "✅ promise_block: right." in printed, printed
    assert re.search(rf"raw\s+arrives_within\s+event_time\s+warn\s+{late_72h}\b", printed)
    assert re.search(r"clean\s+arrives_within\s+event_time\s+pass\s+0\b", printed)
    for out in reruns:
        assert "Not yet" in out and "✅" not in out, out
    # 48 hours: every late row of the manifest; no severity: the same rows, but `fail`
    assert re.search(
        rf"raw\s+arrives_within\s+event_time\s+warn\s+{p['late_events']['count']}\b", reruns[0]
    )
    assert re.search(rf"raw\s+arrives_within\s+event_time\s+fail\s+{late_72h}\b", reruns[1])

    (
        raw_rows,
        clean,
        staged,
        model,
        n_bad,
        bad_rows,
        fresh,
        newest,
        later,
        outage,
        still,
        volume,
        outage_fresh,
        renamed,
        renamed_message,
        retyped,
        contracted,
        contract_message,
        rolled_back,
    ) = probe
    # section 2: every raw-layer test warns with exactly the manifest's count of its problem
    assert len(raw_rows) == 7
    for test, column, status, failures, manifest in raw_rows:
        assert status == "warn" and failures == manifest, (test, column)
    # section 1: the clean layer's block passes; the model's tests pass
    assert sorted(t for _, _, t, _ in clean) == sorted(
        ["unique", "not_null", "not_null", "accepted_values", "relationships"]
    )
    assert {s for *_, s in clean} == {"pass"}
    assert model == ["success"] and staged and set(staged) == {"pass"}
    bad = raw[~raw["event_name"].isin(ACCEPTED)]
    assert (n_bad, bad_rows) == (bad["event_name"].nunique(), len(bad))
    # section 3: fresh at the project's now (newest row 1.52 h old), warn at 06:00, error at 23:00
    newest_pd = pd.to_datetime(raw["received_at"]).max()
    assert newest.startswith(str(newest_pd))
    now = pd.Timestamp("2025-07-12 00:00:00")
    assert fresh[0] == "pass" and fresh[1] == pytest.approx((now - newest_pd) / pd.Timedelta("1h"))
    assert [s for s, _ in later] == ["warn", "error"]
    assert [a for _, a in later] == [
        pytest.approx((pd.Timestamp(t) - newest_pd) / pd.Timedelta("1h"), abs=1e-4)
        for t in ("2025-07-12 06:00", "2025-07-12 23:00")
    ]
    # section 4: during the outage the column tests still warn, with no more failures than on
    # June, and only the volume check fails, with one row (checked by pandas above)
    before = {(t, c): int(f) for t, c, _, f, _ in raw_rows}
    columns = [r for r in outage if r[0] != "daily_volume"]
    assert len(columns) == 7 and {r[2] for r in columns} == {"warn"}
    assert all(0 < int(f) <= before[t, c] for t, c, _, f in columns)
    assert any(int(f) < before[t, c] for t, c, _, f in columns)
    assert [r[2:] for r in outage if r[0] == "daily_volume"] == [["fail", "1"]]
    assert volume == ["pass"] and outage_fresh == ["pass"]  # "It passes on June"; "fresh"
    # section 5: a rename fails the model and skips its tests; a retyped id passes everything;
    # the contract refuses it, naming the column and both types; the rolled-back types build
    assert renamed == {"error": 1, "skipped": 6}
    # "stg_events still holds the rows of the last good build": June's clean events (pandas)
    assert still == len(june_events) > 0
    assert 'Referenced column "client_version" not found' in renamed_message
    assert retyped == {"success": 1, "pass": 6}
    assert contracted[0] == "error"
    assert "enforced contract that failed" in contract_message
    assert "| event_id    | VARCHAR         | BIGINT" in contract_message
    assert dict(rolled_back)["stg_events"] == "success"
