"""Loading Orbit into other databases (SQLite copy, DuckDB, PostgreSQL) keeps data and answers.

The PostgreSQL tests are marked ``postgres`` and need ``TPMLAB_PG_URL`` (a server URL such as
``postgresql://postgres@127.0.0.1:5432/postgres``); they create and drop a fresh database.
"""

from __future__ import annotations

import os
import uuid
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, text

from tpmlab import data
from tpmlab.data import checksums as cs
from tpmlab.data import queries, schema
from tpmlab.errors import TPMLabError

COMPARED = [
    "DAU",
    "FUNNEL_ORDERED",
    "FUNNEL_UNORDERED",
    "DAY7_RETENTION",
    "RETENTION_MATRIX",
    "MRR_BY_MONTH",
]


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    from tpmlab.data.builder import build

    return build(11, 0.04, tmp_path_factory.mktemp("load-src"))


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Dates/timestamps to text, numbers to float, so results from any database compare."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[c] = col.dt.strftime("%Y-%m-%d")
        elif col.dtype == object and len(col) and isinstance(col.iloc[0], Decimal):
            out[c] = col.astype(float)
        elif col.dtype == object:
            out[c] = col.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
        if pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].astype(float).round(9)
    return out.reset_index(drop=True)


def assert_same_answers(sqlite_eng, other_eng, dialect: str):
    for name in COMPARED:
        a = normalise(pd.read_sql(queries.get(name, "sqlite"), sqlite_eng))
        b = normalise(pd.read_sql(queries.get(name, dialect), other_eng))
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=name)


@pytest.mark.slow
def test_load_into_sqlite_copy_is_identical(small_db, tmp_path):
    target = tmp_path / "copy.sqlite"
    counts = data.load_into(f"sqlite:///{target}", small_db)
    assert counts == {n: v["rows"] for n, v in cs.checksums(small_db).items()}
    assert cs.compare(cs.checksums(target), cs.checksums(small_db)) == []
    with pytest.raises(TPMLabError, match="already has Orbit tables"):
        data.load_into(f"sqlite:///{target}", small_db)
    data.load_into(f"sqlite:///{target}", small_db, if_exists="replace")


def test_load_into_duckdb_keeps_types_keys_and_answers(small_db, tmp_path):
    url = f"duckdb:///{tmp_path / 'orbit.duckdb'}"
    counts = data.load_into(url, small_db)
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            tables = {r[0] for r in c.execute(text("SELECT table_name FROM duckdb_tables()"))}
            assert tables == set(schema.TABLE_ORDER)
            types = dict(
                c.execute(
                    text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'events'"
                    )
                ).fetchall()
            )
            assert types["event_time"] == "TIMESTAMP" and types["event_date"] == "DATE"
            kinds = {
                (r[0], r[1])
                for r in c.execute(
                    text("SELECT table_name, constraint_type FROM duckdb_constraints()")
                )
            }
            assert ("events", "PRIMARY KEY") in kinds and ("events", "FOREIGN KEY") in kinds
            for name, n in counts.items():
                assert c.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar() == n
            idx = {r[0] for r in c.execute(text("SELECT index_name FROM duckdb_indexes()"))}
            assert "ix_events_event_time" in idx
        assert_same_answers(data.sqlite_engine(small_db), eng, "duckdb")
    finally:
        eng.dispose()


def test_load_into_bad_target_is_a_clear_error(small_db):
    with pytest.raises(TPMLabError, match="driver"):
        data.load_into("notadb://x", small_db)
    with pytest.raises(TPMLabError, match="does not exist"):
        data.load_into("sqlite:////nonexistent/dir/x.db", small_db)


# --------------------------------------------------------------------------- PostgreSQL

PG_URL = os.environ.get("TPMLAB_PG_URL")
needs_pg = pytest.mark.skipif(
    not PG_URL,
    reason="TPMLAB_PG_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/postgres)",
)


@pytest.fixture(scope="module")
def pg_url():
    """A fresh PostgreSQL database, dropped afterwards."""
    from sqlalchemy.engine import make_url

    from tpmlab.data.engines import connect

    server = connect(PG_URL)
    name = f"tpmlab_test_{uuid.uuid4().hex[:8]}"
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    server.dispose()
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    server.dispose()


@pytest.mark.postgres
@needs_pg
def test_postgres_load_gives_the_same_answers(pg_url, orbit_db, orbit_engine):
    counts = data.load_into(pg_url, orbit_db)
    eng = data.engine(pg_url)
    try:
        insp = inspect(eng)
        cols = {c["name"]: str(c["type"]) for c in insp.get_columns("events")}
        assert cols["event_time"].startswith("TIMESTAMP") and cols["event_date"] == "DATE"
        fks = {fk["referred_table"] for fk in insp.get_foreign_keys("users")}
        assert fks == {"workspaces"}
        with eng.connect() as c:
            for name, n in counts.items():
                assert c.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar() == n
            assert (
                c.execute(text("SELECT COUNT(*) FROM raw_events WHERE user_id IS NULL")).scalar()
                > 0
            )
        assert_same_answers(orbit_engine, eng, "postgresql")
    finally:
        eng.dispose()


@pytest.mark.postgres
@needs_pg
def test_postgres_load_into_a_fresh_schema(pg_url, small_db):
    counts = data.load_into(pg_url, small_db, db_schema="lesson_copy")
    eng = data.engine(pg_url)
    try:
        with eng.connect() as c:
            n = c.execute(text("SELECT COUNT(*) FROM lesson_copy.events")).scalar()
            assert n == counts["events"]
        with pytest.raises(TPMLabError, match="already has Orbit tables"):
            data.load_into(pg_url, small_db, db_schema="lesson_copy")
        with pytest.raises(TPMLabError, match="not a valid schema name"):
            data.load_into(pg_url, small_db, db_schema="bad name; drop")
    finally:
        eng.dispose()


def test_a_postgresql_style_load_does_not_strip_foreign_keys_from_later_loads(small_db, tmp_path):
    """The foreign keys a PostgreSQL load adds with ALTER TABLE must not vanish from a DuckDB
    load later in the same process (SQLAlchemy's AddConstraint marks them "not inline")."""
    from tpmlab.data.load import add_foreign_keys

    class Recorder:  # stands in for a PostgreSQL connection: compiles, runs nothing
        statements = []

        def execute(self, statement):
            self.statements.append(statement)

    add_foreign_keys(Recorder(), schema.TABLE_ORDER)
    assert Recorder.statements, "no foreign key was added"
    url = f"duckdb:///{tmp_path / 'after.duckdb'}"
    data.load_into(url, small_db)
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            kinds = {
                (r[0], r[1])
                for r in c.execute(
                    text("SELECT table_name, constraint_type FROM duckdb_constraints()")
                )
            }
    finally:
        eng.dispose()
    assert ("events", "FOREIGN KEY") in kinds
