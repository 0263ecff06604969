"""tpmlab.pipelines: Orbit's dbt project finds exactly the planted raw problems of the manifest,
its staging model reconciles with the clean events, freshness follows the fixed "now", and a
learner's table block runs as dbt tests (failing on the raw layer, passing on the clean copy).

One dbt build for the module (dbt parses for several seconds): the tests read its results.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
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
    from tpmlab.pipelines import warehouses as wh

    src = tmp_path / "orbit.sqlite"
    with sqlite3.connect(paths.default_db_path()) as full, sqlite3.connect(src) as small:
        for name, sql in wh.TABLES.items():
            frame = pd.read_sql_query(f"SELECT * FROM ({sql}) LIMIT 50", full)
            frame.to_sql(name, small, index=False)
    monkeypatch.setattr(paths, "cache_dir", lambda: tmp_path / "cache")

    def count(path):
        with duckdb.connect(str(path)) as con:
            return con.execute("SELECT count(*) FROM raw_events").fetchone()[0]

    first = wh.warehouse(tmp_path / "a.duckdb", src)
    kept = sorted((tmp_path / "cache" / "dbt").glob("*.duckdb"))
    assert len(kept) == 1 and count(first) == 50
    assert wh.warehouse(tmp_path / "b.duckdb", src).read_bytes() == kept[0].read_bytes()
    with sqlite3.connect(src) as small:
        small.execute("DELETE FROM raw_events WHERE rowid > 10")
    assert count(wh.warehouse(tmp_path / "c.duckdb", src)) == 10
    assert sorted((tmp_path / "cache" / "dbt").glob("*.duckdb")) != kept
    assert len(list((tmp_path / "cache" / "dbt").glob("*.duckdb"))) == 1
    (tmp_path / "cache" / "dbt").chmod(0o500)
    monkeypatch.setattr(wh.os, "access", lambda *a: False)
    try:
        assert count(wh.warehouse(tmp_path / "d.duckdb", src, clean=True)) <= 10
    finally:
        (tmp_path / "cache" / "dbt").chmod(0o700)
    assert len(list((tmp_path / "cache" / "dbt").glob("*.duckdb"))) == 1


def test_schema_copies_come_from_the_cache_even_where_it_is_read_only(tmp_path, monkeypatch):
    """``run_tests_on`` copies each dataset into a schema of one warehouse: the copy is made once
    (a cached file per source and options) and then copied DuckDB to DuckDB, with the same
    tables and rows as a copy read from SQLite; where the cache folder cannot be written (the
    grading sandbox) an existing copy is still read, and none missing is kept."""
    import sqlite3

    import duckdb
    import pandas as pd

    from tpmlab import paths
    from tpmlab.pipelines import warehouses as wh

    src = tmp_path / "orbit.sqlite"
    with sqlite3.connect(paths.default_db_path()) as full, sqlite3.connect(src) as small:
        for name, sql in wh.TABLES.items():
            frame = pd.read_sql_query(f"SELECT * FROM ({sql}) LIMIT 80", full)
            frame.to_sql(name, small, index=False)
    monkeypatch.setattr(paths, "cache_dir", lambda: tmp_path / "cache")

    def tables(path, schema):
        with duckdb.connect(str(path)) as con:
            names = con.execute(
                f"SELECT table_name FROM duckdb_tables() WHERE schema_name = '{schema}' "
                "ORDER BY table_name"
            ).fetchall()
            return {
                n: con.execute(f"SELECT * FROM {schema}.{n} ORDER BY ALL").df() for (n,) in names
            }

    direct = tmp_path / "direct.duckdb"
    for i, clean in enumerate((False, True)):
        wh._copy_tables(direct, src, clean, True, f"d{i}")
    cached = wh.cache_warehouses([src])
    assert set(cached) == set((tmp_path / "cache" / "dbt").glob("*.duckdb"))
    assert len(list((tmp_path / "cache" / "dbt").glob("*.duckdb"))) == 2

    def no_sqlite(*args):
        raise AssertionError("read Orbit from SQLite although a cached copy exists")

    monkeypatch.setattr(wh, "_copy_tables", no_sqlite)
    monkeypatch.setattr(wh.os, "access", lambda *a: False)  # the sandbox's read-only folder
    copied = tmp_path / "copied.duckdb"
    for i, clean in enumerate((False, True)):
        wh.warehouse(copied, src, clean=clean, schema=f"d{i}", minimal=True)
    for schema in ("d0", "d1"):
        want, got = tables(direct, schema), tables(copied, schema)
        assert sorted(want) == sorted(got) and want, schema
        for name in want:
            pd.testing.assert_frame_equal(want[name], got[name])
    assert sorted(tables(copied, "d0")) == ["raw_events", "users"]
    # a copy that is not in the read-only cache is read from SQLite and not kept
    monkeypatch.undo()
    monkeypatch.setattr(paths, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(wh.os, "access", lambda *a: False)
    wh.warehouse(tmp_path / "full.duckdb", src, schema="d0")
    assert len(list((tmp_path / "cache" / "dbt").glob("*"))) == 2
    assert sorted(tables(tmp_path / "full.duckdb", "d0")) == ["events", "raw_events", "users"]


def test_a_saved_parse_is_reused_and_gives_what_a_full_parse_gives(tmp_path, monkeypatch):
    """A workspace's run keeps dbt's parse in Orbit's cache folder; the next workspace starts
    from it (dbt re-parses only the learner's block, which differs) and gets the results of a
    full parse, row for row, also where that block has a mistake dbt reports."""
    from tpmlab import paths
    from tpmlab.pipelines import dbt

    dbt._dbt_runner()  # before dbt's manifest module is imported (see _dbt_runner)
    from dbt.parser.manifest import ManifestLoader

    real_cache = paths.cache_dir()
    monkeypatch.setattr(paths, "cache_dir", lambda: tmp_path / "cache")
    # the warehouses only (copied from the real cache folder, to save reading SQLite)
    (tmp_path / "cache" / "dbt").mkdir(parents=True)
    for kept in (real_cache / "dbt").glob("warehouse-*.duckdb"):
        (tmp_path / "cache" / "dbt" / kept.name).write_bytes(kept.read_bytes())
    used, full_parse = [], {"on": False}
    real = ManifestLoader.read_manifest_for_partial_parse

    def spy(self):
        manifest = None if full_parse["on"] else real(self)
        used.append(manifest is not None)
        return manifest

    monkeypatch.setattr(ManifestLoader, "read_manifest_for_partial_parse", spy)
    typo = "columns:\n  - name: event_id\n    data_tests: [unique, not_nul]\n"
    with pipelines.workspace() as first:
        pipelines.run_tests(first, "columns:\n  - name: user_id\n    data_tests: [not_null]\n")
    assert used == [False] and list((tmp_path / "cache" / "dbt").glob("parse-*.msgpack"))
    runs = {}
    for label in ("saved", "full"):
        full_parse["on"] = label == "full"  # dbt then finds no saved parse to start from
        with pipelines.workspace() as ws:
            runs[label] = [pipelines.run_tests(ws, BLOCK), pipelines.run_tests(ws, typo)]
    assert used == [False, True, True, False, False]
    for saved, full in zip(runs["saved"], runs["full"], strict=True):
        pd.testing.assert_frame_equal(saved, full)
    assert runs["saved"][1]["status"].tolist() == ["error", "fail"]
    assert dbt._parse_cache(None)[0].exists()


@pytest.mark.sandbox
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")
def test_the_grading_sandbox_reads_the_warehouses_the_grader_cached():
    """``prepare_data`` (run by the grader before a batch) caches the four warehouses of the
    data-pipelines checks and dbt's parse of the project; a sandboxed process, where Orbit's cache
    folder is read-only, copies the warehouses without reading SQLite, starts from the saved
    parse, and gets the same dbt results as a full copy."""
    from tpmlab.grading import sandbox
    from tpmlab.grading.sandbox.kernel import prepare_data
    from tpmlab.paths import REPO_ROOT

    reason = sandbox.probe()
    if reason is not None:
        pytest.skip(f"needs bubblewrap and root: {reason}")
    built = prepare_data(REPO_ROOT / "exercises" / "06-data-pipelines")
    cached = [p for p in built if p.parent.name == "dbt"]
    assert len(cached) == 5 and all(p.exists() for p in cached), built
    assert len([p for p in cached if p.name.startswith("parse-")]) == 1
    code = (
        "import os\n"
        "from tpmlab import data\n"
        "from tpmlab.pipelines import dbt\n"
        "from tpmlab.pipelines import warehouses as wh\n"
        "def refuse(*a):\n"
        "    raise SystemExit('read SQLite: ' + str(a[1]))\n"
        "wh._copy_tables = refuse\n"
        "dbt._dbt_runner()  # dbt's locks made for the sandbox before its manifest is imported\n"
        "from dbt.parser.manifest import ManifestLoader as L\n"
        "real = L.read_manifest_for_partial_parse\n"
        "def spy(self):\n"
        "    m = real(self)\n"
        "    print('saved parse', m is not None)\n"
        "    return m\n"
        "L.read_manifest_for_partial_parse = spy\n"
        "print(os.access(wh._cached_copy(data.paths.default_db_path(), False, True)[0].parent,"
        " os.W_OK))\n"
        "blocks = 'columns:\\n  - name: event_id\\n    data_tests: [unique]\\n'\n"
        "f = dbt.run_tests_on(blocks, {'raw': (None, False), 'clean': (None, True),"
        " 're-seeded': (data.reseeded_engine(2031), False)})\n"
        "print(f[['dataset', 'status', 'failures']].to_json(orient='values'))\n"
    )
    box = sandbox.Sandbox()
    try:
        proc = box.popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = proc.communicate(timeout=300)
    finally:
        box.close()
    assert proc.returncode == 0, err[-3000:]
    writable, parse, results = out.strip().splitlines()[-3:]
    assert (writable, parse) == ("False", "saved parse True"), out
    full = pipelines.run_tests_on(
        "columns:\n  - name: event_id\n    data_tests: [unique]\n",
        {
            "raw": (None, False),
            "clean": (None, True),
            "re-seeded": (data.reseeded_engine(2031), False),
        },
    )
    assert json.loads(results) == json.loads(
        full[["dataset", "status", "failures"]].to_json(orient="values")
    )
    assert [r[1] for r in json.loads(results)] == ["pass", "fail", "fail"]


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
