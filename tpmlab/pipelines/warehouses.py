"""Orbit's tables in a DuckDB warehouse for dbt: copied from the SQLite dataset, and kept.

:func:`warehouse` copies the tables of :data:`TABLES` from Orbit's SQLite file into a DuckDB file
(or a schema of one), the raw layer as it is or its **clean copy** (see
:mod:`tpmlab.pipelines.dbt`). A finished copy is kept in Orbit's cache folder, named by the
source file, its size and time and the options, so the next workspace copies a DuckDB file
instead of reading SQLite again. The grading sandbox cannot write that folder: the grader makes
the copies before a batch (:func:`cache_warehouses`) and the sandbox reads them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

import pandas as pd

from tpmlab.errors import TPMLabError

#: The first day of the raw layer: the clean events copied into the workspace start here.
WINDOW_START = "2025-06-01"
#: Orbit's tables the project reads, with the SQL that copies each from the SQLite database.
TABLES = {
    "raw_events": "SELECT event_id, user_id, event_name, event_time, received_at, platform, "
    "client_version FROM raw_events",
    "users": "SELECT user_id, signup_at, signup_date, country, platform, channel, workspace_id "
    "FROM users",
    "events": "SELECT event_id, user_id, session_id, event_time, event_date, event_name, platform, "
    f"project_id FROM events WHERE event_time >= '{WINDOW_START}'",
}
_TYPES = {
    "raw_events": "event_id BIGINT, user_id BIGINT, event_name VARCHAR, event_time VARCHAR, "
    "received_at TIMESTAMP, platform VARCHAR, client_version VARCHAR",
    "users": "user_id BIGINT, signup_at TIMESTAMP, signup_date DATE, country VARCHAR, "
    "platform VARCHAR, channel VARCHAR, workspace_id BIGINT",
    "events": "event_id BIGINT, user_id BIGINT, session_id BIGINT, event_time TIMESTAMP, "
    "event_date DATE, event_name VARCHAR, platform VARCHAR, project_id BIGINT",
}
_CLEAN_RAW = """
CREATE TABLE raw_events AS
SELECT e.event_id, e.user_id, e.event_name,
       strftime(e.event_time, '%Y-%m-%dT%H:%M:%SZ') AS event_time,
       least(r.received_at, e.event_time + INTERVAL 1 MINUTE) AS received_at,
       e.platform, r.client_version
FROM events AS e
JOIN (SELECT event_id, min(received_at) AS received_at, min(client_version) AS client_version
      FROM raw_source GROUP BY event_id) AS r USING (event_id)
"""


def _source_path(source) -> Path:
    """The SQLite file behind ``source`` (None: the bundled one; an Engine; or a path)."""
    if source is None:
        from tpmlab import paths

        path = paths.default_db_path()
    elif hasattr(source, "url"):
        if source.url.get_backend_name() != "sqlite" or not source.url.database:
            raise TPMLabError(
                f"The pipeline copies Orbit from a SQLite file, not from {source.url.drivername}.",
                "Pass data.engine() (the bundled data), data.reseeded_engine(seed) or a path.",
            )
        path = Path(source.url.database)
    else:
        path = Path(source)
    if not path.exists():
        raise TPMLabError(
            f"There is no Orbit database at {path} to copy into the pipeline's warehouse.",
            "Run `make data` (or `python -m tpmlab.data build`) in the course folder first.",
        )
    return path


def warehouse(
    path: str | Path,
    source=None,
    *,
    clean: bool = False,
    schema: str | None = None,
    minimal: bool = False,
) -> Path:
    """Copy the tables of :data:`TABLES` from Orbit's SQLite ``source`` into a DuckDB file.

    ``source`` is None (the bundled data), an engine on a SQLite copy (e.g.
    ``data.reseeded_engine(2031)``) or a path. ``clean=True`` replaces ``raw_events`` by the
    clean copy described in this module's docstring. Without ``schema`` the file is made anew;
    with one, the tables go into that schema of the file (created if missing). ``minimal=True``
    copies only what a learner's ``raw_events`` tests read: ``raw_events`` and the ids of
    ``users`` (no clean ``events`` left behind). Returns ``path``."""
    src_path = _source_path(source)
    path = Path(path)
    if schema is None and path.exists():
        path.unlink()
    cached = _ensure_cached(src_path, clean, minimal)
    if cached is None:
        _copy_tables(path, src_path, clean, minimal, schema)
    elif schema is None:
        shutil.copyfile(cached, path)
    else:
        _attach_copy(path, cached, schema)
    return path


def _copy_tables(path: Path, src_path: Path, clean: bool, minimal: bool, schema: str | None):
    """Read Orbit's tables from the SQLite file and write them into the DuckDB file ``path``
    (into ``schema`` when given)."""
    import duckdb

    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    con = duckdb.connect(str(path), config={"threads": 1, "memory_limit": "256MB"})
    try:
        if schema is not None:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(f"USE {schema}")
        for name, sql in TABLES.items():
            if minimal and name == "events" and not clean:
                continue
            if minimal and name == "raw_events" and clean:
                sql = "SELECT event_id, received_at, client_version FROM raw_events"
            if minimal and name == "events":
                sql = (
                    "SELECT event_id, user_id, event_time, event_name, platform FROM events "
                    f"WHERE event_time >= '{WINDOW_START}'"
                )
            if minimal and name == "users":
                sql = "SELECT user_id FROM users"
            frame = pd.read_sql_query(sql, src)
            cols = ", ".join(
                f"CAST({c.split()[0]} AS {c.split()[1]}) AS {c.split()[0]}"
                for c in _TYPES[name].split(", ")
                if c.split()[0] in frame.columns
            )
            con.register("orbit_frame", frame)
            target = "raw_source" if (clean and name == "raw_events") else name
            con.execute(f"CREATE TABLE {target} AS SELECT {cols} FROM orbit_frame")
            con.unregister("orbit_frame")
        if clean:
            con.execute(_CLEAN_RAW)
            con.execute("DROP TABLE raw_source")
            if minimal:
                con.execute("DROP TABLE events")
    finally:
        con.close()
        src.close()


def _attach_copy(path: Path, cached: Path, schema: str) -> None:
    """Copy every table of the finished warehouse ``cached`` into ``schema`` of ``path``, DuckDB
    to DuckDB (the cached file is opened read-only: in the grading sandbox it is)."""
    import duckdb

    con = duckdb.connect(str(path), config={"threads": 1, "memory_limit": "256MB"})
    try:
        con.execute(f"ATTACH '{cached}' AS orbit_cached (READ_ONLY)")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        names = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'orbit_cached' "
            "ORDER BY table_name"
        ).fetchall()
        for (name,) in names:
            con.execute(f"CREATE TABLE {schema}.{name} AS SELECT * FROM orbit_cached.main.{name}")
        con.execute("DETACH orbit_cached")
    finally:
        con.close()


def cache_warehouses(sources, *, minimal: bool = True) -> list[Path]:
    """Build, where Orbit's cache folder can be written, the warehouses of every source in
    ``sources`` (paths or engines, as in :func:`warehouse`), raw and clean, so that later
    workspaces copy them instead of reading SQLite: the grader calls it before a batch, because
    inside the grading sandbox the cache folder is read-only. Returns the cached files."""
    found = []
    for source in sources:
        for clean in (False, True):
            cached = _ensure_cached(_source_path(source), clean, minimal)
            if cached is not None:
                found.append(cached)
    return found


def _ensure_cached(src_path: Path, clean: bool, minimal: bool) -> Path | None:
    """The cached warehouse of ``src_path`` with these options, built first if it is missing
    and the cache folder can be written; ``None`` when there is none to read."""
    cached, writable = _cached_copy(src_path, clean, minimal)
    if cached.exists():
        return cached
    if not writable:
        return None
    # parallel test workers and kernels may race to build it: each writes its own temporary
    # file and renames it into place
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        _copy_tables(tmp, src_path, clean, minimal, None)
        os.replace(tmp, cached)
    except OSError:
        return None
    finally:
        tmp.unlink(missing_ok=True)
    # older copies of the same source and options (a rebuilt dataset) are not needed again
    which = cached.name.split("-")[1]
    for old in cached.parent.glob(f"warehouse-{which}-*.duckdb"):
        if old != cached:
            old.unlink(missing_ok=True)
    return cached


def _cached_copy(src_path: Path, clean: bool, minimal: bool) -> tuple[Path, bool]:
    """Where a finished warehouse of ``src_path`` is kept for the next workspace (copying the
    DuckDB file is ten times faster than reading Orbit's tables again): in Orbit's cache folder,
    named by the source file, its size and time and the options, so a rebuilt dataset gets a new
    copy; and whether that folder can be written (not in the grading sandbox, which reads the
    copies the grader made before the batch)."""
    from tpmlab import paths

    folder = paths.cache_dir() / "dbt"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    stat = src_path.stat()
    which = f"{src_path.resolve()}|{clean}|{minimal}"
    version = f"{stat.st_size}|{stat.st_mtime_ns}|{TABLES}|{_TYPES}|{_CLEAN_RAW}"
    name = "-".join(hashlib.sha256(k.encode()).hexdigest()[:12] for k in (which, version))
    return folder / f"warehouse-{name}.duckdb", writable
