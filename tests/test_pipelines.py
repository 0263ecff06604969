"""tpmlab.pipelines: Orbit's dbt project finds exactly the planted raw problems of the manifest,
its staging model reconciles with the clean events, freshness follows the fixed "now", and a
learner's table block runs as dbt tests (failing on the raw layer, passing on the clean copy).

One dbt build for the module (dbt parses for several seconds): the tests read its results.
"""

from __future__ import annotations

import pytest

from tpmlab import data, pipelines
from tpmlab.errors import TPMLabError

pytestmark = pytest.mark.slow

# which test of sources.yml finds which planted problem of manifest.json -> raw_problems
PLANTED = {
    ("unique", "event_id"): "exact_duplicates",
    ("no_redelivery", "event_id"): "redelivered_duplicates",
    ("not_null", "user_id"): "null_user_id",
    ("relationships", "user_id"): "orphaned_user_ids",
    ("accepted_values", "event_name"): "bad_event_names",
    ("utc_only", "event_time"): "mixed_time_zones",
    ("arrives_within", "event_time"): "late_events",
}


@pytest.fixture(scope="module")
def ws():
    with pipelines.workspace() as ws:
        yield ws


@pytest.fixture(scope="module")
def built(ws):
    return pipelines.build(ws)


def test_raw_layer_tests_find_the_planted_problems(built):
    problems = data.manifest()["raw_problems"]
    raw = built[(built["kind"] == "test") & (built["relation"] == "raw_events")]
    found = {(r.test, r.column): (r.status, r.failures) for r in raw.itertuples()}
    assert set(found) == set(PLANTED), found
    for key, problem in PLANTED.items():
        # raw-layer tests warn (they must not stop the build), each with the planted count
        assert found[key] == ("warn", problems[problem]["count"]), (key, problem, found[key])


def test_staging_model_is_clean_and_reconciles(built, ws):
    model = built[built["kind"] == "model"]
    assert model["status"].tolist() == ["success"]
    staged = built[(built["kind"] == "test") & (built["relation"] == "stg_events")]
    assert len(staged) == 5 and (staged["status"] == "pass").all(), staged
    reconcile = built[built["name"] == "reconcile_with_clean_events"]
    assert reconcile["status"].tolist() == ["pass"] and reconcile["failures"].tolist() == [0]
    # the same events as the clean layer's window, checked outside dbt too
    got = ws.query("SELECT count(*) AS n, sum(event_id) AS s FROM stg_events").iloc[0]
    want = ws.query("SELECT count(*) AS n, sum(event_id) AS s FROM events").iloc[0]
    assert (int(got["n"]), int(got["s"])) == (int(want["n"]), int(want["s"]))
    problems = data.manifest()["raw_problems"]
    dropped = (
        problems["exact_duplicates"]["count"]
        + problems["redelivered_duplicates"]["count"]
        + problems["null_user_id"]["count"]
        + problems["orphaned_user_ids"]["count"]
    )
    # every planted duplicate and orphan row is dropped, and nothing else (no copies overlap:
    # re-deliveries, nulls and orphans are drawn from distinct rows, exact copies from all rows)
    raw_rows = problems["rows"]
    assert int(got["n"]) <= raw_rows - problems["null_user_id"]["count"]
    assert int(got["n"]) >= raw_rows - dropped


def test_freshness_follows_the_fixed_now(ws):
    newest = ws.query("SELECT max(received_at) AS t FROM raw_events")["t"].iloc[0]
    assert str(newest) == "2025-07-11 22:28:43"
    statuses = {
        as_of: pipelines.freshness(ws, as_of=as_of)["status"].tolist()
        for as_of in ("2025-07-12 00:00:00", "2025-07-12 06:00:00", "2025-07-12 23:00:00")
    }
    # newest row 1.5 h, 7.5 h and 24.5 h old: warn after 6 hours, error after 24
    assert statuses == {
        "2025-07-12 00:00:00": ["pass"],
        "2025-07-12 06:00:00": ["warn"],
        "2025-07-12 23:00:00": ["error"],
    }


BLOCK = """
columns:
  - name: event_id
    data_tests: [unique]
  - name: user_id
    data_tests:
      - not_null
      - relationships:
          arguments: {to: "source('raw', 'users')", field: user_id}
"""


def test_a_learners_block_fails_on_raw_and_passes_on_the_clean_copy(ws):
    raw = pipelines.run_tests(ws, BLOCK)
    assert sorted(zip(raw["test"], raw["status"], raw["failures"], strict=True)) == [
        ("not_null", "fail", 606),
        ("relationships", "fail", 405),
        ("unique", "fail", 2426),
    ]
    assert set(raw["relation"]) == {"raw_events"}
    with pipelines.workspace(clean=True) as clean:
        passed = pipelines.run_tests(clean, BLOCK)
        assert passed["status"].tolist() == ["pass"] * 3
        assert (
            clean.query("SELECT count(*) AS n FROM raw_events")["n"].iloc[0]
            == (ws.query("SELECT count(*) AS n FROM events")["n"].iloc[0])
        )
    # the block was removed again: the project's own tests are unchanged
    assert not (ws.project / "models" / "submitted.yml").exists()


def test_mistakes_say_what_to_do(ws):
    with pytest.raises(TPMLabError, match="indentation"):
        pipelines.run_tests(ws, "columns:\n  - name: x\n   data_tests: [unique]")
    with pytest.raises(TPMLabError, match="one table"):
        pipelines.run_tests(ws, "- unique")
    # a test dbt does not know is an error row whose message names it
    typo = pipelines.run_tests(ws, "columns:\n  - name: event_id\n    data_tests: [uniq]")
    assert typo["status"].tolist() == ["error"]
    assert "'test_uniq' is undefined" in typo["message"].iloc[0]


def test_warehouse_is_copied_from_the_cache_and_rebuilt_when_the_source_changes(
    tmp_path, monkeypatch
):
    """A second warehouse of the same source is a copy of the first (kept in Orbit's cache
    folder); a changed source file gets a new one and the old copy is removed; an unwritable
    cache folder (the grading sandbox) only means no copy is kept."""
    import sqlite3

    import duckdb
    import pandas as pd

    from tpmlab import paths
    from tpmlab.pipelines import dbt

    src = tmp_path / "orbit.sqlite"
    with sqlite3.connect(paths.default_db_path()) as full, sqlite3.connect(src) as small:
        for name, sql in dbt.TABLES.items():
            frame = pd.read_sql_query(f"SELECT * FROM ({sql}) LIMIT 50", full)
            frame.to_sql(name, small, index=False)
    monkeypatch.setattr(paths, "cache_dir", lambda: tmp_path / "cache")

    def count(path):
        with duckdb.connect(str(path)) as con:
            return con.execute("SELECT count(*) FROM raw_events").fetchone()[0]

    first = dbt.warehouse(tmp_path / "a.duckdb", src)
    kept = sorted((tmp_path / "cache" / "dbt").glob("*.duckdb"))
    assert len(kept) == 1 and count(first) == 50
    assert dbt.warehouse(tmp_path / "b.duckdb", src).read_bytes() == kept[0].read_bytes()
    with sqlite3.connect(src) as small:
        small.execute("DELETE FROM raw_events WHERE rowid > 10")
    assert count(dbt.warehouse(tmp_path / "c.duckdb", src)) == 10
    assert sorted((tmp_path / "cache" / "dbt").glob("*.duckdb")) != kept
    assert len(list((tmp_path / "cache" / "dbt").glob("*.duckdb"))) == 1
    (tmp_path / "cache" / "dbt").chmod(0o500)
    monkeypatch.setattr(dbt.os, "access", lambda *a: False)
    try:
        assert count(dbt.warehouse(tmp_path / "d.duckdb", src, clean=True)) <= 10
    finally:
        (tmp_path / "cache" / "dbt").chmod(0o700)
    assert len(list((tmp_path / "cache" / "dbt").glob("*.duckdb"))) == 1


def test_dbt_is_imported_without_building_the_iri_grammar():
    """In a fresh interpreter, loading dbt leaves rfc3987_syntax unimported (its grammar took a
    third of dbt's import) and jsonschema without its "iri" check, every other format kept."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tpmlab.pipelines import dbt\n"
        "dbt._dbt_runner()\n"
        "import jsonschema\n"
        "checks = jsonschema.FormatChecker().checkers\n"
        "print(sys.modules['rfc3987_syntax'] is None, 'iri' in checks, 'date' in checks)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "True"], out.stdout + out.stderr
