"""Shared pytest fixtures: Orbit's default database, built once per test session if needed.

``orbit_db`` is the path of the default database (seed 42, scale 1) in ``datasets/``; it is built
there if it is missing or was made by another seed, scale or generator version. Builds are
serialised with a file lock so parallel workers (pytest-xdist) build it only once.
``orbit_engine`` is a SQLAlchemy engine on it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import pytest

from tpmlab import paths
from tpmlab.variants import STUDENT_ENV

# nbval runs the source assignments top to bottom; the ones with per-learner variants
# (tpmlab.variants) leave STUDENT_ID empty, as learners get it, so they run as this id's variant
os.environ.setdefault(STUDENT_ENV, "course-author")

#: Set to True by ``orbit_db`` when this session built the database itself.
BUILT_THIS_SESSION = {"default": False}


def _is_current_default(db: Path) -> bool:
    from tpmlab.data.generate import GENERATOR_VERSION

    if not db.exists() or not (db.parent / "manifest.json").exists():
        return False
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            info = dict(con.execute("SELECT key, value FROM dataset_info").fetchall())
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return (
        info.get("seed") == "42"
        and float(info.get("scale", "nan")) == 1.0
        and info.get("generator_version") == GENERATOR_VERSION
    )


@pytest.fixture(scope="session")
def orbit_db() -> Path:
    """Path of the default Orbit database (seed 42, scale 1), built if missing or stale."""
    from tpmlab.data.builder import build

    db = paths.default_db_path()
    if _is_current_default(db):
        return db
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _is_current_default(db):
                build(42, 1.0, db.parent)
                BUILT_THIS_SESSION["default"] = True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return db


@pytest.fixture(scope="session")
def orbit_engine(orbit_db):
    """A SQLAlchemy engine on the default Orbit database."""
    from tpmlab.data import sqlite_engine

    eng = sqlite_engine(orbit_db)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def raw(orbit_engine):
    """June's raw rows (``raw_events``) with the event time parsed to UTC by pandas (not by
    SQLite or DuckDB) in ``utc`` and the delivery lag in seconds in ``lag_s``: the independent
    reading the module 6 lessons' numbers are checked against."""
    import pandas as pd

    df = pd.read_sql("SELECT * FROM raw_events", orbit_engine)
    df["utc"] = pd.to_datetime(df["event_time"], utc=True, format="ISO8601").dt.tz_localize(None)
    df["lag_s"] = (pd.to_datetime(df["received_at"]) - df["utc"]).dt.total_seconds()
    return df


@pytest.fixture(scope="session")
def orbit_manifest(orbit_db) -> dict:
    """The manifest (planted truth) of the default Orbit database."""
    import json

    return json.loads((orbit_db.parent / "manifest.json").read_text())


# ---- services: skip locally, fail in CI ---------------------------------------------------------
# A test that needs a service carries a marker; where the service is missing it skips with a
# reason. CI sets TPMLAB_REQUIRE_<SERVICE>=1, and there such a skip becomes a failure, so a green
# CI run means the PostgreSQL, browser, sandbox and key-value server tests really ran.
REQUIRED_BY_MARKER = {
    "postgres": "TPMLAB_REQUIRE_PG",
    "browser": "TPMLAB_REQUIRE_BROWSER",
    "sandbox": "TPMLAB_REQUIRE_SANDBOX",
    "kv": "TPMLAB_REQUIRE_KV",
    "hub": "TPMLAB_REQUIRE_HUB",
}


#: Notebooks run by nbval (``--nbval-lax``) that need a service: every cell of the notebook gets
#: the marker, so ``-m "not kv"`` leaves the whole notebook out, never half of it. Paths are
#: relative to the repository. tests/test_author_loop.py checks that every notebook starting a
#: key-value server is listed.
NOTEBOOK_MARKERS = {
    "course/05-system-design/07-choosing-a-data-store.ipynb": ("kv",),
    "exercises/05-system-design-stores-and-cost/data-stores-and-cost.ipynb": ("kv",),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix != ".ipynb":
            continue
        try:
            rel = item.path.relative_to(paths.REPO_ROOT).as_posix()
        except ValueError:
            continue
        for marker in NOTEBOOK_MARKERS.get(rel, ()):
            item.add_marker(marker)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    import os

    outcome = yield
    report = outcome.get_result()
    if not report.skipped:
        return
    for marker, variable in REQUIRED_BY_MARKER.items():
        if item.get_closest_marker(marker) and os.environ.get(variable):
            report.outcome = "failed"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
            report.longrepr = f"{variable} is set but this {marker} test was skipped: {reason}"


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the PostgreSQL server given by TPMLAB_PG_URL (skips when unset)."""
    import os

    url = os.environ.get("TPMLAB_PG_URL")
    if not url:
        pytest.skip("set TPMLAB_PG_URL to a PostgreSQL server to run this test")
    return url


@pytest.fixture
def pg_database_url(pg_url):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    name = f"tpmlab_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(pg_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
