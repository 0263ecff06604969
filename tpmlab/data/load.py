"""Copy the Orbit dataset from its SQLite file into any SQLAlchemy database (PostgreSQL, DuckDB...).

Tables, types, primary keys, foreign keys and indexes come from :mod:`tpmlab.data.schema`. Data is
loaded before indexes and (where the database allows adding them later) foreign keys are created,
which is much faster. PostgreSQL is loaded with ``COPY`` through psycopg2, DuckDB from pandas frames
registered on its native connection, anything else with chunked ``INSERT`` statements.
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pandas as pd
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, ForeignKeyConstraint

from tpmlab import paths
from tpmlab.data import engines as _connect
from tpmlab.data import schema
from tpmlab.errors import DataNotFoundError, TPMLabError

CHUNK_ROWS = 100_000


def _read_chunks(src: sqlite3.Connection, name: str, chunk_rows: int):
    t = schema.table(name)
    cols = [c.name for c in t.columns]
    kinds = {c.name: schema.column_kind(c) for c in t.columns}
    sql = f"SELECT {', '.join(cols)} FROM {name}"
    for chunk in pd.read_sql_query(sql, src, chunksize=chunk_rows):
        for c in cols:
            if kinds[c] == "int":
                chunk[c] = chunk[c].astype("Int64")
        yield chunk


def _copy_postgres(eng: Engine, name: str, chunks, qualified: str) -> None:
    cols = [c.name for c in schema.table(name).columns]
    sql = f"COPY {qualified} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        for chunk in chunks:
            buf = io.StringIO()
            chunk.to_csv(buf, header=False, index=False, na_rep="\\N", lineterminator="\n")
            if hasattr(cur, "copy_expert"):  # psycopg2
                buf.seek(0)
                cur.copy_expert(sql, buf)
            else:  # psycopg 3
                with cur.copy(sql) as copy:
                    copy.write(buf.getvalue())
        raw.commit()
    finally:
        raw.close()


def add_foreign_keys(conn, names) -> None:
    """``ALTER TABLE ... ADD CONSTRAINT`` for every foreign key of ``names`` (PostgreSQL loads).

    SQLAlchemy's ``AddConstraint`` marks the shared schema's constraint as "not inline" for every
    later ``CREATE TABLE`` in this process, so a DuckDB or SQLite load after a PostgreSQL one
    would lose its foreign keys: the mark is put back after each statement."""
    for name in names:
        for c in schema.table(name).constraints:
            if isinstance(c, ForeignKeyConstraint):
                rule = c._create_rule
                try:
                    conn.execute(AddConstraint(c))
                finally:
                    c._create_rule = rule


def _insert_duckdb(eng: Engine, name: str, chunks, qualified: str) -> None:
    t = schema.table(name)
    dialect = eng.dialect
    select = ", ".join(
        f"CAST({c.name} AS {c.type.compile(dialect=dialect)}) AS {c.name}" for c in t.columns
    )
    raw = eng.raw_connection()
    try:
        con = raw.driver_connection
        for chunk in chunks:
            con.register("orbit_chunk", chunk)
            con.execute(f"INSERT INTO {qualified} SELECT {select} FROM orbit_chunk")
            con.unregister("orbit_chunk")
        raw.commit()
    finally:
        raw.close()


def _insert_sqlite(eng: Engine, name: str, chunks) -> None:
    cols = [c.name for c in schema.table(name).columns]
    sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        for chunk in chunks:
            values = chunk.astype(object).where(pd.notna(chunk), None)
            cur.executemany(sql, values.itertuples(index=False, name=None))
        raw.commit()
    finally:
        raw.close()


def _insert_generic(eng: Engine, name: str, chunks, is_sqlite: bool) -> None:
    t = schema.table(name)
    kinds = {c.name: schema.column_kind(c) for c in t.columns}
    with eng.begin() as conn:
        for chunk in chunks:
            chunk = chunk.astype(object)
            if not is_sqlite:
                for c, k in kinds.items():
                    if k in ("timestamp", "date"):
                        v = pd.to_datetime(chunk[c])
                        chunk[c] = v.dt.date if k == "date" else v.dt.to_pydatetime()
            chunk = chunk.where(pd.notna(chunk), None)
            conn.execute(t.insert(), chunk.to_dict("records"))


def _deferred_fks(dialect: str) -> bool:
    """Whether foreign keys are added after loading (True) or declared inline at creation."""
    return dialect not in ("sqlite", "duckdb")


def load_into(
    url: str,
    source_db: str | Path | None = None,
    *,
    if_exists: str = "fail",
    db_schema: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    quiet: bool = True,
) -> dict[str, int]:
    """Copy every Orbit table into the database at ``url``; returns the row count per table.

    ``if_exists="fail"`` refuses to touch a database that already has Orbit tables;
    ``"replace"`` drops them first. ``db_schema`` (PostgreSQL, DuckDB) loads into that schema,
    creating it if needed.
    """
    if if_exists not in ("fail", "replace"):
        raise TPMLabError(
            f"if_exists must be 'fail' or 'replace', not {if_exists!r}.",
            "Use if_exists='replace' to overwrite existing tables.",
        )
    if db_schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", db_schema):
        raise TPMLabError(
            f"{db_schema!r} is not a valid schema name.",
            "Use letters, digits and underscores only, e.g. orbit.",
        )
    src_path = Path(source_db) if source_db is not None else paths.default_db_path()
    if not src_path.exists():
        raise DataNotFoundError(
            f"There is no Orbit database to copy at {src_path}.",
            "Run `make data` (or `python -m tpmlab.data build`) first.",
        )
    eng = _connect.connect(url, must_exist=False)
    if db_schema is not None and eng.dialect.name not in ("postgresql", "duckdb"):
        raise TPMLabError(
            f"Loading into a schema is only supported for PostgreSQL and DuckDB, not "
            f"{eng.dialect.name}.",
            "Leave out the schema (--schema / db_schema).",
        )
    try:
        return _load(eng, src_path, if_exists, db_schema, chunk_rows, quiet)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise TPMLabError(
            f"Loading Orbit into {_connect._safe(eng.url)} failed "
            f"({detail[0] if detail else type(exc).__name__}).",
            "Check that the user in the URL may create tables in that database (and that the "
            "schema in the URL's search_path exists), then run the load again with --replace.",
        ) from exc
    finally:
        eng.dispose()


def _load(eng, src_path, if_exists, db_schema, chunk_rows, quiet) -> dict[str, int]:
    dialect = eng.dialect.name
    names = schema.TABLE_ORDER
    if db_schema is not None:
        with eng.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{db_schema}"'))
        eng = eng.execution_options(schema_translate_map={None: db_schema})

    def qualified(name: str) -> str:
        return f'"{db_schema}".{name}' if db_schema else name

    existing = set(inspect(eng).get_table_names(schema=db_schema)) & set(names)
    if existing:
        if if_exists == "fail":
            raise TPMLabError(
                f"The database at {_connect._safe(eng.url)} already has Orbit tables "
                f"({', '.join(sorted(existing)[:4])}...).",
                "Load into an empty database, or pass --replace (if_exists='replace') to "
                "overwrite them.",
            )
        schema.metadata.drop_all(eng, tables=[schema.table(n) for n in names if n in existing])

    deferred = _deferred_fks(dialect)
    with eng.begin() as conn:
        for name in names:
            t = schema.table(name)
            fks = [
                c
                for c in t.constraints
                if isinstance(c, ForeignKeyConstraint)
                and (dialect == "sqlite" or (not deferred and not c.use_alter))
            ]
            conn.execute(CreateTable(t, include_foreign_key_constraints=fks))

    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    counts: dict[str, int] = {}
    try:
        for name in names:
            n = src.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
            chunks = _read_chunks(src, name, chunk_rows)
            if dialect == "postgresql":
                _copy_postgres(eng, name, chunks, qualified(name))
            elif dialect == "duckdb":
                _insert_duckdb(eng, name, chunks, qualified(name))
            elif dialect == "sqlite":
                _insert_sqlite(eng, name, chunks)
            else:
                _insert_generic(eng, name, chunks, False)
            counts[name] = n
            if not quiet:
                print(f"  {name}: {n:,} rows")
    finally:
        src.close()

    with eng.begin() as conn:
        for name in names:
            for idx in sorted(schema.table(name).indexes, key=lambda i: i.name):
                conn.execute(CreateIndex(idx))
        if deferred:
            add_foreign_keys(conn, names)
        if dialect == "postgresql":
            conn.execute(text("ANALYZE"))
    return counts
