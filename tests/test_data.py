"""Tests of Orbit's dataset: determinism, integrity, realistic shape, planted quirks, raw layer,
data dictionary, CLI and error messages."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tpmlab import paths
from tpmlab.data import checksums as cs
from tpmlab.data import queries, schema
from tpmlab.errors import DatabaseURLError, DataNotFoundError, TPMLabError

TS_GLOB = "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]"
DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]"


@pytest.fixture(scope="module")
def con(orbit_db):
    c = sqlite3.connect(f"file:{orbit_db}?mode=ro", uri=True)
    yield c
    c.close()


def one(con, sql, *args):
    return con.execute(sql, args).fetchone()[0]


def q(con, sql) -> pd.DataFrame:
    return pd.read_sql_query(sql, con)


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    from tpmlab.data.builder import build

    out = tmp_path_factory.mktemp("small")
    return build(7, 0.05, out)


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_checksums_and_other_seed_differs(small_build, tmp_path):
    from tpmlab.data.builder import build

    again = build(7, 0.05, tmp_path / "again")
    other = build(8, 0.05, tmp_path / "other")
    a, b, c = cs.checksums(small_build), cs.checksums(again), cs.checksums(other)
    assert cs.compare(a, b) == []
    assert "users" in cs.compare(a, c) and "events" in cs.compare(a, c)


@pytest.mark.slow
def test_default_build_matches_committed_checksums(orbit_db, tmp_path):
    """Any change to the generator must update datasets/checksums.json on purpose:
    python -m tpmlab.data build && python -m tpmlab.data checksums --write"""
    from conftest import BUILT_THIS_SESSION

    from tpmlab.data.builder import build

    db = orbit_db if BUILT_THIS_SESSION["default"] else build(42, 1.0, tmp_path)
    expected = cs.load_expected()
    assert (expected["seed"], expected["scale"]) == (42, 1.0)
    diff = cs.compare(cs.checksums(db), expected["tables"])
    assert diff == [], (
        f"Tables {diff} differ from datasets/checksums.json. If you changed the generator on "
        "purpose, run `python -m tpmlab.data build && python -m tpmlab.data checksums --write`."
    )


def test_build_is_atomic(tmp_path, monkeypatch):
    from tpmlab.data import builder

    good = builder.build(3, 0.02, tmp_path)
    before = cs.checksums(good)
    calls = {"n": 0}
    real = builder._py_values

    def crash(*a, **k):
        calls["n"] += 1
        if calls["n"] > 20:
            raise KeyboardInterrupt("simulated crash")
        return real(*a, **k)

    monkeypatch.setattr(builder, "_py_values", crash)
    with pytest.raises(KeyboardInterrupt):
        builder.build(4, 0.02, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "orbit.sqlite"]
    assert cs.compare(cs.checksums(good), before) == []


# --------------------------------------------------------------------------- schema, integrity


def test_database_has_exactly_the_schema(con):
    tables = {
        r[0]
        for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if not r[0].startswith("sqlite_")
    }
    assert tables == set(schema.TABLE_ORDER)
    for name in schema.TABLE_ORDER:
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({name})")]
        assert cols == [c.name for c in schema.table(name).columns], name
    indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    for required in ["ix_events_user_id", "ix_events_event_time", "ix_events_event_name"]:
        assert required in indexes
    assert {"ix_events_event_date", "ix_api_requests_ts"} <= indexes


def test_every_foreign_key_resolves(con):
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    # and spelled out for the nullable ones
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM events WHERE project_id IS NOT NULL AND project_id NOT IN (SELECT project_id FROM projects)",
        )
        == 0
    )
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM tasks WHERE assignee_id IS NOT NULL AND assignee_id NOT IN (SELECT user_id FROM users)",
        )
        == 0
    )


def test_timestamps_and_dates_are_canonical_text(con):
    for name in schema.TABLE_ORDER:
        for c in schema.table(name).columns:
            kind = schema.column_kind(c)
            if kind not in ("timestamp", "date"):
                continue
            pattern = TS_GLOB if kind == "timestamp" else DATE_GLOB
            bad = one(
                con,
                f"SELECT COUNT(*) FROM {name} WHERE {c.name} IS NOT NULL "
                f"AND ({c.name} NOT GLOB ? OR typeof({c.name}) != 'text')",
                pattern,
            )
            assert bad == 0, f"{name}.{c.name} has {bad} values not in canonical format"
    assert one(con, "SELECT COUNT(*) FROM events WHERE event_date != DATE(event_time)") == 0
    assert one(con, "SELECT COUNT(*) FROM users WHERE signup_date != DATE(signup_at)") == 0
    lo, hi = con.execute("SELECT MIN(event_time), MAX(event_time) FROM events").fetchone()
    assert lo >= "2025-01-01 00:00:00" and hi <= "2025-06-30 23:59:59"
    assert (
        one(con, "SELECT julianday('2025-06-30') - julianday(MIN(signup_date)) FROM users") == 180
    )


def test_sessions_are_consistent_with_events(con):
    bad = one(
        con,
        """SELECT COUNT(*) FROM events e JOIN sessions s ON s.session_id = e.session_id
           WHERE s.user_id != e.user_id OR s.platform != e.platform
              OR e.event_time < s.started_at OR e.event_time > s.ended_at""",
    )
    assert bad == 0
    assert one(con, "SELECT COUNT(*) FROM sessions WHERE ended_at < started_at") == 0
    empty = one(
        con,
        "SELECT COUNT(*) FROM sessions WHERE session_id NOT IN "
        "(SELECT DISTINCT session_id FROM events)",
    )
    assert empty == 0
    # every user's first event is the signup, at signup_at
    assert one(con, "SELECT COUNT(*) FROM events WHERE event_name = 'signup'") == one(
        con, "SELECT COUNT(*) FROM users"
    )
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM users u JOIN events e ON e.user_id = u.user_id "
            "AND e.event_name = 'signup' WHERE e.event_time != u.signup_at",
        )
        == 0
    )
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM events e JOIN users u USING (user_id) WHERE e.event_time < u.signup_at",
        )
        == 0
    )


def test_projects_and_tasks_match_their_events(con, orbit_manifest):
    assert one(con, "SELECT COUNT(*) FROM events WHERE event_name='project_created'") == one(
        con, "SELECT COUNT(*) FROM projects"
    )
    # each project_created event carries its project's id, creator and time
    assert one(
        con,
        """SELECT COUNT(*) FROM events e JOIN projects p ON p.project_id = e.project_id
           WHERE e.event_name = 'project_created'
             AND p.created_by = e.user_id AND p.created_at = e.event_time""",
    ) == one(con, "SELECT COUNT(*) FROM projects")
    assert one(con, "SELECT COUNT(*) FROM events WHERE event_name='task_created'") == one(
        con, "SELECT COUNT(*) FROM tasks"
    )
    # every done task has its task_completed event, but those module 2's decoy did not log
    assert (
        one(con, "SELECT COUNT(*) FROM events WHERE event_name='task_completed'")
        == one(con, "SELECT COUNT(*) FROM tasks WHERE completed_at IS NOT NULL")
        - orbit_manifest["metric_decoy"]["events_removed"]
    )
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM events WHERE event_name IN "
            "('project_created','task_created','task_completed') AND project_id IS NULL",
        )
        == 0
    )
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM events WHERE event_name NOT IN "
            "('project_created','task_created','task_completed') AND project_id IS NOT NULL",
        )
        == 0
    )
    # tasks live in a project of their creator's workspace, created before them
    assert (
        one(
            con,
            """SELECT COUNT(*) FROM tasks t JOIN projects p USING (project_id)
           JOIN users u ON u.user_id = t.created_by
           WHERE p.workspace_id != u.workspace_id OR p.created_at > t.created_at
              OR (t.completed_at IS NOT NULL AND t.completed_at <= t.created_at)
              OR (t.status = 'done') != (t.completed_at IS NOT NULL)""",
        )
        == 0
    )
    # task events match task rows by (creator, time, project)
    assert (
        one(
            con,
            """SELECT COUNT(*) FROM events e
           WHERE e.event_name = 'task_created' AND NOT EXISTS (
             SELECT 1 FROM tasks t WHERE t.created_by = e.user_id
               AND t.created_at = e.event_time AND t.project_id = e.project_id)""",
        )
        == 0
    )


def test_workspaces_and_invites(con):
    n_users = one(con, "SELECT COUNT(*) FROM users")
    owners = one(con, "SELECT COUNT(*) FROM users WHERE is_workspace_owner = 1")
    assert 0.55 <= owners / n_users <= 0.65
    assert one(con, "SELECT COUNT(*) FROM workspaces") == owners
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM workspaces w JOIN users u ON u.user_id = w.owner_user_id "
            "WHERE u.workspace_id != w.workspace_id OR u.is_workspace_owner != 1",
        )
        == 0
    )
    # every invited user accepted an invite sent earlier by their workspace's owner
    invitees = n_users - owners
    assert one(con, "SELECT COUNT(*) FROM events WHERE event_name='invite_accepted'") == invitees
    missing = one(
        con,
        """SELECT COUNT(*) FROM users u JOIN workspaces w USING (workspace_id)
           WHERE u.is_workspace_owner = 0 AND NOT EXISTS (
             SELECT 1 FROM events e WHERE e.user_id = w.owner_user_id
               AND e.event_name = 'invite_sent' AND e.event_time < u.signup_at)""",
    )
    assert missing == 0
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM users u JOIN workspaces w USING (workspace_id) WHERE u.signup_at < w.created_at",
        )
        == 0
    )


def test_experiment_assignments_are_valid(con):
    bad = one(
        con,
        """SELECT COUNT(*) FROM experiment_assignments a
           JOIN users u USING (user_id) JOIN experiments x USING (experiment_id)
           WHERE a.assigned_at < u.signup_at OR DATE(a.assigned_at) < x.start_date
              OR DATE(a.assigned_at) > x.end_date OR a.platform != u.platform""",
    )
    assert bad == 0
    assert one(con, "SELECT MIN(start_date) FROM experiments") >= "2025-04-01"
    assert one(con, "SELECT MAX(end_date) FROM experiments") <= "2025-06-30"
    assert one(con, "SELECT COUNT(*) FROM experiment_assignments") == one(
        con, "SELECT COUNT(*) FROM experiment_outcomes"
    )


# --------------------------------------------------------------------------- realistic shape


def test_users_shape(con, orbit_manifest):
    u = q(con, "SELECT signup_date, platform, channel, country FROM users")
    assert 18_000 <= len(u) <= 22_000
    share = u.platform.value_counts(normalize=True)
    assert abs(share["web"] - 0.5) < 0.03 and abs(share["ios"] - 0.3) < 0.03
    assert abs(share["android"] - 0.2) < 0.03
    assert set(u.channel) == {"organic", "paid_search", "paid_social", "referral", "partner"}
    assert u.country.nunique() == 15
    per_day = u.groupby("signup_date").size()
    days = pd.to_datetime(per_day.index)
    assert 65 <= per_day[days.month == 1].mean() <= 95
    assert 120 <= per_day[days.month == 6].mean() <= 160
    weekend = days.day_of_week >= 5
    assert per_day[weekend].mean() < 0.9 * per_day[~weekend].mean()


def test_retention_decays_then_flattens_and_differs_by_platform(con):
    sql = """SELECT u.platform,
      AVG(EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.user_id
                  AND e.event_date = DATE(u.signup_date, '+{d} days'))) AS r
      FROM users u WHERE u.signup_date <= '2025-04-30' GROUP BY u.platform"""
    r = {d: q(con, sql.format(d=d)).set_index("platform").r for d in (1, 7, 30, 60)}
    overall = {d: r[d].mean() for d in r}
    assert overall[1] > overall[7] > overall[30] >= overall[60] * 0.8
    assert overall[1] - overall[7] > 3 * (overall[30] - overall[60])  # flattens
    assert r[7]["ios"] > r[7]["android"] and r[30]["ios"] > r[30]["android"]


def test_event_volume_and_heavy_tail(con):
    n = one(con, "SELECT COUNT(*) FROM events")
    assert 600_000 <= n <= 1_200_000
    per = q(con, "SELECT COUNT(*) AS n FROM events GROUP BY user_id, event_date").n
    assert per.quantile(0.99) >= 4 * per.median()
    names = set(q(con, "SELECT DISTINCT event_name FROM events").event_name)
    assert names == set(queries_event_names())


def queries_event_names():
    from tpmlab.data.generate import EVENT_NAMES

    return EVENT_NAMES.tolist()


def test_funnel_order_matters(con, orbit_manifest):
    ordered = q(con, queries.FUNNEL_ORDERED).users.tolist()
    unordered = q(con, queries.FUNNEL_UNORDERED).users.tolist()
    assert ordered == orbit_manifest["funnel"]["ordered_counts"]
    assert unordered == orbit_manifest["funnel"]["unordered_counts"]
    assert ordered == sorted(ordered, reverse=True)
    assert unordered[3] > ordered[3] * 1.2  # task_created: invited users skip project_created
    early = one(
        con,
        """SELECT COUNT(*) FROM (
             SELECT user_id,
               MIN(CASE WHEN event_name='project_created' THEN event_time END) AS p,
               MIN(CASE WHEN event_name='onboarding_complete' THEN event_time END) AS o
             FROM events GROUP BY user_id)
           WHERE p IS NOT NULL AND (o IS NULL OR p < o)""",
    )
    share = early / one(con, "SELECT COUNT(*) FROM users")
    assert 0.05 <= share <= 0.10
    invited_tasks_no_project = one(
        con,
        """SELECT COUNT(DISTINCT e.user_id) FROM events e JOIN users u USING (user_id)
           WHERE u.is_workspace_owner = 0 AND e.event_name = 'task_created'
             AND NOT EXISTS (SELECT 1 FROM events p WHERE p.user_id = e.user_id
                             AND p.event_name = 'project_created')""",
    )
    assert invited_tasks_no_project > 1000


def test_money(con, orbit_manifest):
    ws = one(con, "SELECT COUNT(*) FROM workspaces")
    paid = one(con, "SELECT COUNT(DISTINCT workspace_id) FROM subscriptions")
    assert 0.06 <= paid / ws <= 0.10
    fail = one(con, "SELECT AVG(status = 'failed') FROM payments")
    assert 0.02 <= fail <= 0.045
    # churn: churned subscriptions per subscription-month at risk
    months = one(
        con,
        "SELECT SUM(julianday(COALESCE(ended_at, '2025-06-30 23:59:59')) - julianday(started_at))"
        " / 30.0 FROM subscriptions",
    )
    churned = one(con, "SELECT COUNT(*) FROM subscriptions WHERE end_reason = 'churned'")
    assert 0.025 <= churned / months <= 0.055
    assert one(con, "SELECT COUNT(*) FROM subscriptions WHERE end_reason = 'upgraded'") > 0
    assert one(con, "SELECT COUNT(*) FROM subscriptions WHERE end_reason = 'downgraded'") > 0
    # upgrade/downgrade events match plan changes, by the owner
    ups = one(con, "SELECT COUNT(*) FROM events WHERE event_name='upgrade'")
    downs = one(con, "SELECT COUNT(*) FROM events WHERE event_name='downgrade'")
    first_subs = paid
    up_changes = one(con, "SELECT COUNT(*) FROM subscriptions WHERE end_reason='upgraded'")
    down_changes = one(con, "SELECT COUNT(*) FROM subscriptions WHERE end_reason='downgraded'")
    assert ups == first_subs + up_changes
    assert downs == down_changes + churned
    # current_plan agrees with the active subscription
    assert (
        one(
            con,
            """SELECT COUNT(*) FROM workspaces w LEFT JOIN subscriptions s
             ON s.workspace_id = w.workspace_id AND s.ended_at IS NULL
           WHERE COALESCE(s.plan, 'free') != w.current_plan""",
        )
        == 0
    )
    mrr = q(con, queries.MRR_BY_MONTH)
    assert mrr.mrr_usd.is_monotonic_increasing
    assert mrr.mrr_usd.iloc[-1] == pytest.approx(orbit_manifest["money"]["mrr_usd_2025_06_30"])
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM payments p JOIN subscriptions s USING (subscription_id) "
            "WHERE p.paid_at < s.started_at OR (s.ended_at IS NOT NULL AND p.paid_at >= s.ended_at "
            "AND p.status != 'succeeded') OR p.workspace_id != s.workspace_id",
        )
        == 0
    )


def test_api_requests_shape_and_incident(con, orbit_manifest):
    a = q(con, "SELECT ts, method, endpoint, resource_key, status, latency_ms FROM api_requests")
    assert 300_000 <= len(a) <= 600_000
    ts = pd.to_datetime(a.ts)
    assert ts.min() >= pd.Timestamp("2025-06-01") and ts.max() < pd.Timestamp("2025-07-01")
    by_hour = ts.dt.hour.value_counts().sort_index()
    assert 12 <= by_hour.idxmax() <= 18 and by_hour.idxmin() <= 7
    assert by_hour.max() > 3 * by_hour.min()
    daily = ts.dt.date.value_counts()
    weekend = pd.to_datetime(pd.Series(daily.index)).dt.day_of_week.to_numpy() >= 5
    assert daily.to_numpy()[weekend].mean() < 0.7 * daily.to_numpy()[~weekend].mean()
    assert (a.method == "GET").mean() > 0.7
    assert {"POST", "PATCH", "DELETE"} <= set(a.method)
    key_counts = a.resource_key.value_counts()
    top = key_counts.iloc[: max(1, len(key_counts) // 100)].sum() / len(a)
    assert top > 0.25, "the top 1% of resource keys should take a large share (caching)"
    assert {200, 201, 400, 401, 404, 429} <= set(a.status)
    inc = orbit_manifest["incident"]
    inw = (a.ts >= inc["window_start"]) & (a.ts < inc["window_end"])
    err_in = (a.status[inw] >= 500).mean()
    err_out = (a.status[~inw] >= 500).mean()
    assert 0.15 <= err_in <= 0.25 and err_out < 0.005
    p99_in = a.latency_ms[inw].quantile(0.99)
    p99_out = a.latency_ms[~inw].quantile(0.99)
    assert p99_in > 3 * p99_out
    # per endpoint, latency is heavy-tailed
    lat = a[~inw].groupby("endpoint").latency_ms
    assert ((lat.quantile(0.99) / lat.median()) > 3).all()
    row = con.execute(
        "SELECT i.severity, i.service, i.started_at, i.resolved_at, d.status, d.service "
        "FROM incidents i JOIN deploys d ON d.deploy_id = i.cause_deploy_id "
        "WHERE i.incident_id = ?",
        (inc["incident_id"],),
    ).fetchone()
    assert row[0] == "sev1" and row[1] == "api" and row[4] == "rolled_back" and row[5] == "api"
    assert row[2] == inc["window_start"] and row[3] == inc["window_end"]


def test_dora_inputs(con):
    d = q(con, "SELECT service, deployed_at, first_commit_at, status FROM deploys")
    days = pd.to_datetime(d.deployed_at).dt.normalize()
    wd = days[days.dt.day_of_week < 5].value_counts()
    assert wd.min() >= 2 and wd.max() <= 7 and wd.mean() == pytest.approx(3.9, abs=0.6)
    assert set(d.service) == {"api", "web", "ios", "android", "billing"}
    assert 0.05 <= (d.status != "success").mean() <= 0.15
    assert (d.first_commit_at < d.deployed_at).all()
    i = q(con, "SELECT * FROM incidents")
    assert 15 <= len(i) <= 25
    assert set(i.severity) == {"sev1", "sev2", "sev3"}
    assert ((i.started_at <= i.detected_at) & (i.detected_at < i.resolved_at)).all()
    assert i.cause_deploy_id.notna().mean() > 0.5


def test_dataset_info(con):
    info = dict(con.execute("SELECT key, value FROM dataset_info").fetchall())
    assert info["seed"] == "42" and float(info["scale"]) == 1.0
    assert info["start"] == "2025-01-01 00:00:00" and info["end"] == "2025-06-30 23:59:59"


# --------------------------------------------------------------------------- raw layer


def _raw_utc(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, utc=True, format="ISO8601").dt.tz_localize(None)


def test_raw_problems_are_present_and_counted(con, orbit_manifest):
    m = orbit_manifest["raw_problems"]
    raw = q(con, "SELECT * FROM raw_events")
    assert len(raw) == m["rows"]
    assert len(raw) - len(raw.drop_duplicates()) == m["exact_duplicates"]["count"] > 0
    assert raw.event_id.duplicated().sum() == m["exact_duplicates"]["count"]
    nn = raw.dropna(subset=["user_id"]).drop_duplicates()
    redelivered = nn.event_id.nunique() - len(
        nn[["user_id", "event_name", "event_time"]].drop_duplicates()
    )
    assert redelivered == m["redelivered_duplicates"]["count"] > 0
    utc = _raw_utc(raw.event_time)
    late = (pd.to_datetime(raw.received_at) - utc) > pd.Timedelta(hours=48)
    assert late.sum() == m["late_events"]["count"] > 0
    assert raw.user_id.isna().sum() == m["null_user_id"]["count"] > 0
    users = set(q(con, "SELECT user_id FROM users").user_id)
    orphans = raw.user_id.notna() & ~raw.user_id.isin(users)
    assert orphans.sum() == m["orphaned_user_ids"]["count"] > 0
    offset = raw.event_time.str.contains(r"[+-]\d\d:\d\d$")
    non_utc = offset & ~raw.event_time.str.endswith("+00:00")
    assert non_utc.sum() == m["mixed_time_zones"]["count"] > 0
    assert raw.event_time.str.endswith("Z").sum() > 0
    assert (~offset & ~raw.event_time.str.endswith("Z")).sum() > 0  # naive
    bad = ~raw.event_name.isin(queries_event_names())
    assert bad.sum() == m["bad_event_names"]["count"] > 0
    assert set(raw.event_name[bad]) & {"Task_Created", "task-created"}
    # after fixing everything, the raw layer gives back exactly the clean June events
    ok = raw.user_id.notna() & ~orphans
    fixed = raw[ok].assign(
        event_name=raw.event_name[ok].str.lower().str.replace("-", "_"),
        event_time=utc[ok].dt.strftime("%Y-%m-%d %H:%M:%S"),
    )
    fixed = fixed.sort_values("received_at").drop_duplicates(
        ["user_id", "event_name", "event_time"]
    )
    clean = q(
        con,
        "SELECT event_id, user_id, event_name, event_time FROM events "
        "WHERE event_time >= '2025-06-01 00:00:00'",
    )
    assert len(fixed) == len(clean)
    merged = clean.merge(fixed, on="event_id", suffixes=("", "_raw"))
    assert len(merged) == len(clean)
    assert (merged.event_name == merged.event_name_raw).all()
    assert (merged.event_time == merged.event_time_raw).all()
    assert (merged.user_id == merged.user_id_raw.astype(int)).all()


def test_clean_layer_has_none_of_the_raw_problems(con):
    assert one(con, "SELECT COUNT(*) - COUNT(DISTINCT event_id) FROM events") == 0
    assert (
        one(
            con,
            "SELECT COUNT(*) FROM (SELECT 1 FROM events GROUP BY user_id, event_name, event_time "
            "HAVING COUNT(*) > 1)",
        )
        == 0
    )
    assert one(con, "SELECT COUNT(*) FROM events WHERE user_id IS NULL") == 0
    assert (
        one(con, "SELECT COUNT(*) FROM events WHERE user_id NOT IN (SELECT user_id FROM users)")
        == 0
    )
    names = ", ".join(f"'{n}'" for n in queries_event_names())
    assert one(con, f"SELECT COUNT(*) FROM events WHERE event_name NOT IN ({names})") == 0
    assert one(con, "SELECT COUNT(*) FROM events WHERE event_time NOT GLOB ?", TS_GLOB) == 0


# --------------------------------------------------------------------------- dictionary


def _documented_columns() -> dict[str, list[str]]:
    text = (paths.REPO_ROOT / "datasets" / "README.md").read_text()
    tables: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        h = re.match(r"^###\s+`?(\w+)`?", line)
        if h:
            current = h.group(1) if h.group(1) in schema.metadata.tables else None
            if current:
                tables.setdefault(current, [])
            continue
        if line.startswith("#"):
            current = None
            continue
        if current and line.startswith("|"):
            cell = line.strip("|").split("|")[0].strip().strip("`")
            if cell in ("column", "") or set(cell) <= set("-: "):
                continue
            tables[current].append(cell)
    return tables


def test_data_dictionary_matches_the_database(con):
    documented = _documented_columns()
    for name in schema.TABLE_ORDER:
        actual = [r[1] for r in con.execute(f"PRAGMA table_info({name})")]
        assert name in documented, f"datasets/README.md has no '### {name}' section"
        undocumented = set(actual) - set(documented[name])
        ghost = set(documented[name]) - set(actual)
        assert not undocumented, f"{name}: columns missing from README.md: {sorted(undocumented)}"
        assert not ghost, f"{name}: README.md documents columns that do not exist: {sorted(ghost)}"
    readme = (paths.REPO_ROOT / "datasets" / "README.md").read_text()
    assert "DRAFT" not in readme and "erDiagram" in readme


# --------------------------------------------------------------------------- queries


def test_standard_queries_run_quickly(orbit_engine):
    import time

    for name in queries.NAMES:
        t0 = time.perf_counter()
        df = pd.read_sql(queries.get(name), orbit_engine)
        took = time.perf_counter() - t0
        assert len(df) > 0
        assert took < 5, f"{name} took {took:.1f}s (target < 1s; see bench/bench_data.py)"
    dau = pd.read_sql(queries.DAU, orbit_engine)
    assert len(dau) == 181 and dau.dau.iloc[-30:].mean() > dau.dau.iloc[:30].mean()


# --------------------------------------------------------------------------- API and errors


def test_engine_defaults_and_env(orbit_db, monkeypatch):
    from tpmlab import data

    monkeypatch.delenv("TPMLAB_DB_URL", raising=False)
    eng = data.engine()
    assert eng.url.database == str(orbit_db)
    monkeypatch.setenv("TPMLAB_DB_URL", f"sqlite:///{orbit_db}")
    with data.engine().connect() as c:
        assert c.exec_driver_sql("SELECT COUNT(*) FROM users").scalar() > 0


def test_the_bundled_database_is_read_only_by_default(orbit_db, monkeypatch):
    """A learner's stray DELETE cannot change the data every check compares with; the error
    says how to experiment on a scratch copy instead."""
    import sqlalchemy as sa

    from tpmlab import data
    from tpmlab.errors import advice

    monkeypatch.delenv("TPMLAB_DB_URL", raising=False)
    before = (orbit_db.stat().st_size, orbit_db.stat().st_mtime_ns)
    eng = data.engine()
    with pytest.raises(sa.exc.OperationalError, match="readonly") as exc, eng.begin() as conn:
        conn.exec_driver_sql("DELETE FROM users")
    assert "scratch copy" in advice(exc.value)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM users").scalar() > 0
    assert (orbit_db.stat().st_size, orbit_db.stat().st_mtime_ns) == before
    eng.dispose()
    # asked for explicitly, it is writable (the data builder and the tests' fixtures do this)
    assert data.engine(read_only=False).url.database == str(orbit_db)


def test_missing_default_data_says_how_to_build(tmp_path, monkeypatch):
    from tpmlab import data

    monkeypatch.delenv("TPMLAB_DB_URL", raising=False)
    monkeypatch.setenv("TPMLAB_DATA_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="make data"):
        data.engine()
    with pytest.raises(DataNotFoundError, match="make data"):
        data.manifest()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://nobody@127.0.0.1:1/x", "Could not connect"),
        ("notadb://x", "No database driver"),
        ("sqlite:////nonexistent/dir/x.db", "does not exist"),
        ("this is not a url", "not a database URL"),
        ("", "not a database URL"),
    ],
)
def test_bad_urls_give_one_clear_error(url, words, monkeypatch):
    from tpmlab import data

    monkeypatch.delenv("TPMLAB_DB_URL", raising=False)
    if url == "":
        with pytest.raises(DatabaseURLError, match=words):
            data.connect(url)
        return
    with pytest.raises(DatabaseURLError) as exc:
        data.engine(url)
    msg = str(exc.value)
    assert words in msg and "What to do:" in msg
    assert "Traceback" not in msg and len(exc.value.problem) < 300


@pytest.mark.parametrize(
    ("seed", "scale"), [(1, -1), (1, "big"), (1, 0), (1, float("nan")), ("x", 1), (1.5, 1)]
)
def test_bad_build_arguments(seed, scale, tmp_path):
    from tpmlab import data

    with pytest.raises(TPMLabError) as exc:
        data.build(seed=seed, scale=scale, out=tmp_path)
    assert exc.value.fix and not list(tmp_path.iterdir())


def test_reseeded_engine_builds_once_and_differs(tmp_path, monkeypatch, orbit_manifest):
    from tpmlab import data

    monkeypatch.setenv("TPMLAB_DATA_DIR", str(tmp_path))
    eng = data.reseeded_engine(5, scale=0.03)
    path = data.reseeded_path(5, 0.03)
    assert path.exists() and "seed-5-scale-0.03" in str(path)
    mtime = path.stat().st_mtime_ns
    eng2 = data.reseeded_engine(5, scale=0.03)
    assert path.stat().st_mtime_ns == mtime
    with eng.connect() as c, eng2.connect() as c2:
        n = c.exec_driver_sql("SELECT COUNT(*) FROM users").scalar()
        assert n == c2.exec_driver_sql("SELECT COUNT(*) FROM users").scalar()
        assert c.exec_driver_sql("SELECT value FROM dataset_info WHERE key='seed'").scalar() == "5"
    assert n != orbit_manifest["row_counts"]["users"]
    with pytest.raises(TPMLabError, match="whole number"):
        data.reseeded_engine("abc")
    with pytest.raises(TPMLabError, match="scale"):
        data.reseeded_engine(5, scale="big")


def test_cli_info_checksums_and_errors(orbit_db):
    env_py = [sys.executable, "-m", "tpmlab.data"]
    out = subprocess.run([*env_py, "info"], capture_output=True, text=True, check=True).stdout
    assert "seed:      42" in out and "events" in out and str(orbit_db) in out
    bad = subprocess.run([*env_py, "build", "--scale", "big"], capture_output=True, text=True)
    assert bad.returncode == 2 and "scale" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run([*env_py, "load", "notadb://x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "driver" in bad.stderr and "Traceback" not in bad.stderr


def test_manifest_is_self_consistent(orbit_manifest, con):
    for name, n in orbit_manifest["row_counts"].items():
        assert one(con, f"SELECT COUNT(*) FROM {name}") == n
    assert orbit_manifest["seed"] == 42 and orbit_manifest["scale"] == 1.0
    assert set(orbit_manifest["experiments"]) == set(
        q(con, "SELECT experiment_id FROM experiments").experiment_id
    )
    for truth in orbit_manifest["experiments"].values():
        assert truth["checks_passed"], truth["checks"]
    assert np.isfinite(orbit_manifest["money"]["mrr_usd_2025_06_30"])
