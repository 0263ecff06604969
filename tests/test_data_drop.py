"""Module 2's planted metric drop and decoy: the manifest's truth is in the data, on seed 42 and
on a re-seeded copy, and the re-seeded copy plants them elsewhere."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from tpmlab import data

RESEED = 2026  # its draws put the drop first and on the other platform than seed 42's


def _open(db):
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    m = json.loads((db.parent / "manifest.json").read_text())
    return c, m


@pytest.fixture(scope="module", params=["seed42", "reseed"])
def planted(request, orbit_db):
    db = orbit_db if request.param == "seed42" else None
    if db is None:
        data.reseeded_engine(RESEED).dispose()
        db = data.reseeded_path(RESEED)
    c, m = _open(db)
    yield c, m
    c.close()


def _count(con, sql, *args) -> int:
    return con.execute(sql, args).fetchone()[0]


def _completion_events(con, start, end, platform=None) -> int:
    sql = (
        "SELECT COUNT(*) FROM events WHERE event_name = 'task_completed' "
        "AND event_time >= ? AND event_time < ?"
    )
    args = [start, end]
    if platform:
        sql += " AND platform = ?"
        args.append(platform)
    return _count(con, sql, *args)


def _completed_tasks(con, start, end) -> int:
    return _count(
        con, "SELECT COUNT(*) FROM tasks WHERE completed_at >= ? AND completed_at < ?", start, end
    )


def _shift(ts: str, days: int) -> str:
    return str(pd.Timestamp(ts) + pd.Timedelta(days=days))


def _ratio(count, con, fact, platform=None) -> float:
    """Rate per day in the window over the rate in the 14 days before and after it."""
    s, e = fact["start_at"], fact["end_at"]
    days = (pd.Timestamp(e) - pd.Timestamp(s)) / pd.Timedelta(days=1)
    args = () if platform is None else (platform,)
    inside = count(con, s, e, *args) / days
    around = (count(con, _shift(s, -14), s, *args) + count(con, e, _shift(e, 14), *args)) / 28
    return inside / around


def test_truth_recorded_for_both(planted):
    con, m = planted
    drop, decoy = m["metric_drop"], m["metric_decoy"]
    assert {drop["kind"], decoy["kind"]} == {"behaviour", "tracking"}
    assert {drop["segment"]["platform"], decoy["segment"]["platform"]} == {"android", "ios"}
    for f in (drop, decoy):
        assert "2025-03-01" <= f["start_date"] < f["end_date"] < "2025-06-01"
        assert f["cause"] and f["detect"] and f["events_removed"] > 0
        row = con.execute(
            "SELECT service, deployed_at, status FROM deploys WHERE deploy_id = ?",
            (f["release_deploy_id"],),
        ).fetchone()
        assert row == (f["segment"]["platform"], f["start_at"], "success")
    # the two windows do not overlap
    a, b = sorted([drop, decoy], key=lambda f: f["start_at"])
    assert a["end_at"] <= b["start_at"]


def test_events_and_tasks_reconcile_except_in_the_decoy_window(planted):
    con, m = planted
    decoy = m["metric_decoy"]
    s, e = decoy["start_at"], decoy["end_at"]
    # every completion event closes one task, and every done task has its event, except the
    # completions the broken build did not log
    assert _completed_tasks(con, s, e) - _completion_events(con, s, e) == decoy["events_removed"]
    total = _count(con, "SELECT COUNT(*) FROM tasks WHERE completed_at IS NOT NULL")
    events = _count(con, "SELECT COUNT(*) FROM events WHERE event_name = 'task_completed'")
    assert total - events == decoy["events_removed"]
    drop = m["metric_drop"]
    s, e = drop["start_at"], drop["end_at"]
    assert _completed_tasks(con, s, e) == _completion_events(con, s, e)


def test_drop_is_in_events_and_tasks_and_decoy_only_in_events(planted):
    con, m = planted
    drop, decoy = m["metric_drop"], m["metric_decoy"]
    tol = 0.06 if m["scale"] == 1.0 else 0.1
    seg = drop["segment"]["platform"]
    r = _ratio(_completion_events, con, drop, seg)
    assert r == pytest.approx(1 - drop["share_removed"], abs=tol)
    # the server's record falls too, by the completions that did not happen
    s, e = drop["start_at"], drop["end_at"]
    days = (pd.Timestamp(e) - pd.Timestamp(s)) / pd.Timedelta(days=1)
    around = (
        _completed_tasks(con, _shift(s, -14), s) + _completed_tasks(con, e, _shift(e, 14))
    ) / 28
    expected = 1 - drop["events_removed"] / (days * around)
    assert expected < 0.97
    assert _ratio(_completed_tasks, con, drop) == pytest.approx(expected, abs=tol / 2)
    seg = decoy["segment"]["platform"]
    r = _ratio(_completion_events, con, decoy, seg)
    assert r == pytest.approx(1 - decoy["share_removed"], abs=tol)
    assert _ratio(_completed_tasks, con, decoy) == pytest.approx(1.0, abs=tol)
    # web (never planted) does not move in either window
    for f in (drop, decoy):
        assert _ratio(_completion_events, con, f, "web") == pytest.approx(1.0, abs=tol)


def test_reseeded_copy_plants_them_elsewhere(orbit_manifest):
    data.reseeded_engine(RESEED).dispose()
    _, m = _open(data.reseeded_path(RESEED))
    for key in ("metric_drop", "metric_decoy"):
        a, b = orbit_manifest[key], m[key]
        assert a["start_date"] != b["start_date"]
        assert a["segment"] != b["segment"]
        assert a["share_removed"] != b["share_removed"]
    # and in the other order: "the later dip is the real one" fails on one of them
    order = [
        f["metric_drop"]["start_at"] < f["metric_decoy"]["start_at"] for f in (orbit_manifest, m)
    ]
    assert order[0] != order[1]
