"""Data stores and cloud cost: the key-value server helper, the measurements, the bill.

The bill is checked by hand-computed arithmetic from the pinned price table (so a change of a
price or of the bill's logic shows here); the measurements are checked for what they must be
(same results on both engines, a column store faster than a row store on the dashboard query),
never for a number of seconds.
"""

from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest

from tpmlab.sysdesign import cloudcost, stores
from tpmlab.sysdesign.kvstore import KVServerMissing, start_kv

HAVE_KV = any(shutil.which(p) for p in ("valkey-server", "redis-server"))


@pytest.mark.kv
def test_kv_server_starts_stores_with_ttl_and_stops():
    if not HAVE_KV:
        pytest.skip("no valkey-server or redis-server: apt-get install redis-server")
    with start_kv() as kv:
        sessions = stores.session_tokens(500, seed=3)
        stores.load_sessions_kv(kv.client, sessions, ttl_seconds=600)
        token, user = sessions.iloc[42]
        assert kv.client.get(f"session:{token}") == str(user)
        assert 590 <= kv.client.ttl(f"session:{token}") <= 600
        assert kv.client.dbsize() == 500
        proc, folder = kv._proc, kv._dir
    assert proc.poll() is not None, "the server still runs after the with block"
    assert not folder.exists()


def test_no_kv_server_says_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(KVServerMissing) as error:
        start_kv()
    assert "apt-get install redis-server" in str(error.value)
    assert "What to do" in str(error.value)


def test_sql_session_table_finds_every_token():
    sessions = stores.session_tokens(300, seed=5)
    con = stores.load_sessions_sql(sessions)
    for token, user in sessions.sample(20, random_state=1).itertuples(index=False):
        assert con.execute("SELECT user_id FROM sessions WHERE token = ?", (token,)).fetchone() == (
            user,
        )
    plan = " ".join(
        str(r)
        for r in con.execute("EXPLAIN QUERY PLAN SELECT user_id FROM sessions WHERE token = 'x'")
    )
    assert "USING INDEX" in plan or "PRIMARY KEY" in plan


@pytest.mark.slow
def test_duckdb_gives_the_same_dashboard_as_sqlite(orbit_engine):
    duck = stores.duckdb_copy(
        orbit_engine, ["events"], {"events": ["event_date", "platform", "user_id"]}
    )
    a = pd.read_sql(stores.DASHBOARD_SQL, orbit_engine)
    b = duck.execute(stores.DASHBOARD_SQL).df()
    b["event_date"] = b["event_date"].astype(str)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_row_and_column_copies_hold_the_same_rows_and_answer_alike(orbit_engine):
    row, col = stores.dashboard_copies(orbit_engine, since="2025-06-25")
    a = pd.read_sql(stores.DASHBOARD_SQL, row)
    b = col.execute(stores.DASHBOARD_SQL).df()
    n = pd.read_sql(
        "SELECT COUNT(*) AS n FROM events WHERE event_date >= '2025-06-25'", orbit_engine
    )["n"][0]
    assert a["events"].sum() == n
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_task_documents_hold_each_task_with_its_project(orbit_engine):
    docs = stores.task_documents(orbit_engine, since="2025-06-20")
    n = pd.read_sql(
        "SELECT COUNT(*) AS n FROM tasks WHERE created_at >= '2025-06-20'", orbit_engine
    )["n"][0]
    assert docs.execute("SELECT COUNT(*) FROM task_docs").fetchone()[0] == n
    by_status_docs = dict(
        docs.execute(
            "SELECT json_extract(doc, '$.status'), COUNT(*) FROM task_docs GROUP BY 1"
        ).fetchall()
    )
    by_status_sql = dict(
        pd.read_sql(
            "SELECT status, COUNT(*) AS n FROM tasks WHERE created_at >= '2025-06-20' "
            "GROUP BY status",
            orbit_engine,
        ).itertuples(index=False)
    )
    assert by_status_docs == by_status_sql
    one = docs.execute("SELECT json_extract(doc, '$.project.name') FROM task_docs LIMIT 1")
    assert one.fetchone()[0]


def test_median_seconds_refuses_no_runs():
    with pytest.raises(ValueError, match="repeat"):
        stores.median_seconds(lambda: None, repeat=0)
    assert stores.median_seconds(lambda: None, repeat=3) >= 0


def test_bill_by_hand_at_200k_users():
    usage = cloudcost.orbit_usage(200_000)
    # 200k x 1,500 requests = 300M a month; peak = 300M / (730 x 3600 s) x 3 = 342.5 rps
    assert usage.api_requests == 300e6
    assert math.isclose(usage.notes["peak_rps"], 300e6 / (730 * 3600) * 3)
    assert usage.app_instances == 3  # ceil(342.5 / 150)
    bill = cloudcost.monthly_bill(usage).set_index("item")["usd"]
    assert math.isclose(bill["app servers"], 3 * 730 * 0.096)
    assert math.isclose(bill["database"], 2 * 730 * 0.178)
    assert math.isclose(bill["database storage"], 1_000 * 0.115)
    assert math.isclose(bill["file storage"], 10_000 * 0.023)
    assert math.isclose(bill["API requests"], 300 * 1.00)
    assert math.isclose(bill["egress"], (2_400 - 100) * 0.09)  # 300M x 8 KB = 2,400 GB
    committed = cloudcost.monthly_bill(usage, committed=True).set_index("item")["usd"]
    assert math.isclose(committed["app servers"], bill["app servers"] * 0.65)
    assert math.isclose(committed["egress"], bill["egress"])


def test_serverless_by_hand():
    # 10M requests of 120 ms at 0.5 GB: 10 x $0.20 + 10M x 0.12 s x 0.5 GB x $0.0000166667
    got = cloudcost.serverless_compute_usd(10e6, 120, 0.5)
    assert math.isclose(got, 10 * 0.20 + 10e6 * 0.12 * 0.5 * 0.0000166667)


def test_ten_times_the_users_is_less_than_ten_times_the_bill():
    small = cloudcost.monthly_bill(cloudcost.orbit_usage(200_000))["usd"].sum()
    large = cloudcost.monthly_bill(cloudcost.orbit_usage(2_000_000))["usd"].sum()
    assert 5 < large / small < 10  # the database pair and the minimum app servers are fixed


def test_every_price_is_sourced_and_dated_in_the_docstring():
    assert "2024" in cloudcost.__doc__ and "US East (N. Virginia)" in cloudcost.__doc__
    for key, price in cloudcost.PRICES.items():
        assert price.source.startswith("https://aws.amazon.com/"), key
        assert price.usd > 0 and price.unit, key


@pytest.mark.parametrize(
    "call",
    [
        lambda: cloudcost.orbit_usage(0),
        lambda: cloudcost.orbit_usage(float("nan")),
        lambda: cloudcost.Usage(-1, 2, 1.0, 1.0, 1.0, 1.0),
        lambda: cloudcost.Usage(1, 2, 1.0, float("inf"), 1.0, 1.0),
        lambda: stores.session_tokens(0),
    ],
)
def test_out_of_range_inputs_are_refused(call):
    with pytest.raises(ValueError):
        call()


def test_the_cost_lessons_claims():
    """What lesson 5.8 states, recomputed: the 10x bill, the commitment, managed vs own, the
    serverless crossover."""
    small = cloudcost.monthly_bill(cloudcost.orbit_usage(200_000))["usd"].sum()
    large = cloudcost.monthly_bill(cloudcost.orbit_usage(2_000_000))["usd"].sum()
    assert round(large / small, 1) == 7.9
    committed = cloudcost.monthly_bill(cloudcost.orbit_usage(200_000), committed=True)
    assert round(12 * (small - committed["usd"].sum())) == 1975
    p = cloudcost.PRICES
    assert round(2 * 730 * (p["db_instance_hour"].usd - p["app_instance_hour"].usd)) == 120
    two_instances = 2 * 730 * p["app_instance_hour"].usd
    fn = lambda r: cloudcost.serverless_compute_usd(r, 120, 0.5)  # noqa: E731
    assert fn(100e6) < two_instances < fn(200e6)
    assert 8 < fn(1e9) / two_instances < 9
