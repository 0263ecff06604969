"""Run Orbit's dbt project (``dbt_orbit/``) in a temporary workspace and read its results.

A :class:`Workspace` is a temporary folder with a copy of the project, a ``profiles.yml`` for
dbt-duckdb and a DuckDB file holding the three Orbit tables the project reads (``raw_events``,
``users``, and the clean ``events`` of the raw layer's window). dbt runs in this process through
``dbtRunner`` and every result comes back as a DataFrame, one row per node: what it is, what it
tested, its status and its failure count.

``clean=True`` builds the workspace on a **clean copy** of the raw layer: the same events as the
clean ``events`` table, in raw_events' columns, as the clients would send them without any of the
planted problems (one row per event, known users, accepted names, UTC times ending in ``Z``,
received within a minute). Data tests that find a planted problem fail on the raw layer and pass
on the clean copy.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from tpmlab.errors import TPMLabError

PROJECT_DIR = Path(__file__).resolve().parent / "dbt_orbit"
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
#: The file a learner's table block goes to (see :func:`run_tests`), and its source's name.
SUBMITTED = "submitted"
RAW_SOURCE = "raw"


def _quiet_env() -> None:
    # no usage statistics, no version check: dbt must never reach the network
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    os.environ["DBT_VERSION_CHECK"] = "false"


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
    import duckdb

    src_path = _source_path(source)
    path = Path(path)
    if schema is None and path.exists():
        path.unlink()
    cached = _cached_copy(src_path, clean, minimal) if schema is None else None
    if cached is not None and cached.exists():
        shutil.copyfile(cached, path)
        return path
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
    if cached is not None:
        _keep_copy(path, cached)
    return path


def _cached_copy(src_path: Path, clean: bool, minimal: bool) -> Path | None:
    """Where a finished warehouse of ``src_path`` is kept for the next workspace (copying the
    DuckDB file is ten times faster than reading Orbit's tables again): in Orbit's cache folder,
    named by the source file, its size and time and the options, so a rebuilt dataset gets a new
    copy. ``None`` when the cache folder cannot be written (the grading sandbox)."""
    from tpmlab import paths

    folder = paths.cache_dir() / "dbt"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    stat = src_path.stat()
    which = f"{src_path.resolve()}|{clean}|{minimal}"
    version = f"{stat.st_size}|{stat.st_mtime_ns}|{TABLES}|{_TYPES}|{_CLEAN_RAW}"
    name = "-".join(hashlib.sha256(k.encode()).hexdigest()[:12] for k in (which, version))
    return folder / f"warehouse-{name}.duckdb"


def _keep_copy(path: Path, cached: Path) -> None:
    """Copy a finished warehouse to the cache, atomically (parallel test workers and kernels may
    race to write it; each writes its own temporary file and renames it into place)."""
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        shutil.copyfile(path, tmp)
        os.replace(tmp, cached)
        # older copies of the same source and options (a rebuilt dataset) are not needed again
        which = cached.name.split("-")[1]
        for old in cached.parent.glob(f"warehouse-{which}-*.duckdb"):
            if old != cached:
                old.unlink(missing_ok=True)
    except OSError:
        tmp.unlink(missing_ok=True)


@dataclass
class Workspace:
    """A temporary folder where dbt runs: ``project/`` (a copy of the project, its profile and
    dbt's ``target/`` and ``logs/``) and ``orbit.duckdb``."""

    root: Path

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def database(self) -> Path:
        return self.root / "orbit.duckdb"

    def query(self, sql: str) -> pd.DataFrame:
        """Read the warehouse with DuckDB's SQL, e.g. ``SELECT count(*) FROM stg_events``."""
        import duckdb

        # the default configuration: dbt-duckdb may hold the file open in this process, and
        # DuckDB shares one database between connections only when their configurations agree
        con = duckdb.connect(str(self.database))
        try:
            return con.execute(sql).df()
        finally:
            con.close()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def workspace(
    source=None, *, clean: bool = False, root: str | Path | None = None, tables: bool = True
) -> Workspace:
    """A new :class:`Workspace` on Orbit (``source`` and ``clean`` as in :func:`warehouse`;
    ``tables=False`` leaves the DuckDB file to be filled by the caller).

    ``root`` defaults to a new temporary folder (the current folder's ``.tpmlab-dbt-*`` when the
    system's temporary folder is not writable)."""
    if root is None:
        try:
            root = tempfile.mkdtemp(prefix="tpmlab-dbt-")
        except OSError:
            root = tempfile.mkdtemp(prefix=".tpmlab-dbt-", dir=os.getcwd())
    ws = Workspace(Path(root))
    for path in sorted(PROJECT_DIR.rglob("*")):
        # contents only (no permission bits or attributes of the read-only package files)
        rel = path.relative_to(PROJECT_DIR)
        if rel.parts[0] in ("target", "logs") or path.is_dir():
            continue
        (ws.project / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws.project / rel).write_bytes(path.read_bytes())
    if tables:
        warehouse(ws.database, source, clean=clean)
    profile = {
        "orbit": {
            "target": "dev",
            "outputs": {
                "dev": {
                    "type": "duckdb",
                    "path": str(ws.database),
                    "threads": 1,
                    # one DuckDB thread: the grading sandbox limits the address space
                    "settings": {"memory_limit": "256MB", "threads": 1, "TimeZone": "UTC"},
                }
            },
        }
    }
    (ws.project / "profiles.yml").write_text(yaml.safe_dump(profile))
    return ws


class _ThreadLocks:
    """dbt's multiprocessing context with thread locks: dbt runs its nodes in threads of this
    process, and a multiprocessing lock needs a writable ``/dev/shm``, which the grading sandbox
    does not have (``PermissionError``). Every other attribute is the real context's."""

    def __init__(self, real):
        self._real = real

    def Lock(self):  # noqa: N802 - the multiprocessing API's name
        return threading.Lock()

    def RLock(self):  # noqa: N802
        return threading.RLock()

    def __getattr__(self, name):
        return getattr(self._real, name)


class _PipeQueue:
    """``multiprocessing.SimpleQueue`` for threads: a pipe (which a thread pool waits on) and a
    thread lock instead of a semaphore, which needs ``/dev/shm``."""

    def __init__(self):
        import multiprocessing

        self._reader, self._writer = multiprocessing.Pipe(duplex=False)
        self._lock = threading.Lock()

    def empty(self):
        return not self._reader.poll()

    def put(self, obj):
        with self._lock:
            self._writer.send(obj)

    def get(self):
        with self._lock:
            return self._reader.recv()

    def close(self):
        self._reader.close()
        self._writer.close()


class _ThreadPoolContext:
    SimpleQueue = _PipeQueue


def _thread_pool_init(self, processes=None, initializer=None, initargs=()):
    """``DbtThreadPool.__init__`` (dbt's thread pool) without a semaphore (see above)."""
    from multiprocessing.pool import Pool

    Pool.__init__(self, processes, initializer, initargs, context=_ThreadPoolContext())
    self.closed = False


def _skip_iri_grammar() -> None:
    """dbt imports jsonschema, whose optional "iri" format check imports ``rfc3987_syntax``,
    which builds a Lark grammar at import: 3.1 of the 9.6 s of dbt's import here
    (``python -X importtime -c "import dbt.cli.main"``; jsonschema issue #1428). dbt validates
    no IRI, so where jsonschema is not imported yet, the package is marked absent and jsonschema
    leaves that one check out (``with suppress(ImportError)`` in ``jsonschema._format``)."""
    if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]


def _dbt_runner():
    _quiet_env()
    _skip_iri_grammar()
    import dbt.mp_context

    # before dbt's manifest module is imported: it takes its lock factory at import time
    if not isinstance(dbt.mp_context._MP_CONTEXT, _ThreadLocks):
        dbt.mp_context._MP_CONTEXT = _ThreadLocks(dbt.mp_context._MP_CONTEXT)
    from dbt.cli.main import dbtRunner
    from dbt.graph.thread_pool import DbtThreadPool

    DbtThreadPool.__init__ = _thread_pool_init
    return dbtRunner()


def _invoke(ws: Workspace, args: list[str], vars: dict | None = None):

    cmd = [
        *args,
        "--project-dir",
        str(ws.project),
        "--profiles-dir",
        str(ws.project),
        "--target-path",
        str(ws.project / "target"),
        "--log-path",
        str(ws.project / "logs"),
    ]
    if vars:
        cmd += ["--vars", yaml.safe_dump(vars, default_flow_style=True).strip()]
    flags = [
        "--log-level",
        "none",
        "--no-version-check",
        "--no-send-anonymous-usage-stats",
        "--no-use-colors",
    ]
    result = _dbt_runner().invoke(flags + cmd)
    if result.exception is not None or result.result is None:
        raise TPMLabError(
            f"dbt could not run `dbt {' '.join(args)}` ({result.exception}).",
            "Read the line above: a YAML mistake (indentation, a missing '-') or a test name "
            "dbt does not know is the usual cause. Fix it and run the cell again.",
        )
    return result.result


def _node_row(r) -> dict:
    node = r.node
    kind = getattr(node.resource_type, "value", str(node.resource_type))
    meta = getattr(node, "test_metadata", None)
    if kind == "test":
        test = meta.name if meta is not None else node.name
        source, target = _tested(node)
    elif kind == "source":
        test, source, target = "freshness", node.source_name, node.name
    else:
        test, source, target = None, None, node.name
    failures = getattr(r, "failures", None)
    status = getattr(r.status, "value", str(r.status))
    return {
        "name": node.name,
        "kind": kind,
        "test": test,
        "source": source,
        "relation": target,
        "column": getattr(node, "column_name", None),
        "status": status,
        "failures": int(failures) if failures is not None else None,
        "message": r.message,
    }


def _tested(node) -> tuple[str | None, str | None]:
    """``(source name, relation)`` a test reads: the relation its generic test was attached to
    (source name None for a model), else its first dependency."""
    meta = getattr(node, "test_metadata", None)
    model = str((meta.kwargs or {}).get("model", "")) if meta is not None else ""
    found = re.search(r"source\('(\w+)',\s*'(\w+)'\)|ref\('(\w+)'\)", model)
    if found:
        return (found.group(1), found.group(2)) if found.group(2) else (None, found.group(3))
    for dep in getattr(node.depends_on, "nodes", []) or []:
        if dep.startswith("source."):
            return dep.split(".")[-2], dep.split(".")[-1]
        if dep.startswith("model."):
            return None, dep.split(".")[-1]
    return None, None


def _frame(result) -> pd.DataFrame:
    rows = [_node_row(r) for r in result.results]
    cols = ["name", "kind", "test", "source", "relation", "column", "status", "failures", "message"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["failures"] = frame["failures"].astype("Int64")
    return frame.sort_values(["kind", "relation", "column", "test"]).reset_index(drop=True)


def build(ws: Workspace, select: str | None = None, vars: dict | None = None) -> pd.DataFrame:
    """``dbt build``: the staging model and every data test; one row per model and test."""
    return _frame(_invoke(ws, ["build", *(["--select", select] if select else [])], vars))


def test(ws: Workspace, select: str | None = None, vars: dict | None = None) -> pd.DataFrame:
    """``dbt test`` (models must have been built): one row per data test."""
    return _frame(_invoke(ws, ["test", *(["--select", select] if select else [])], vars))


def freshness(ws: Workspace, as_of: str | None = None, select: str | None = None) -> pd.DataFrame:
    """``dbt source freshness`` with the warehouse's "now" fixed to ``as_of`` (default: the
    project's ``as_of`` var): one row per source table, with the age of its newest row."""
    result = _invoke(
        ws,
        ["source", "freshness", *(["--select", select] if select else [])],
        {"as_of": as_of} if as_of else None,
    )
    rows = []
    for r in result.results:
        status = getattr(r.status, "value", str(r.status))
        rows.append(
            {
                "relation": r.node.name,
                "status": status,
                "max_loaded_at": getattr(r, "max_loaded_at", None),
                "snapshotted_at": getattr(r, "snapshotted_at", None),
                "age_hours": (getattr(r, "age", None) or float("nan")) / 3600,
            }
        )
    return pd.DataFrame(
        rows, columns=["relation", "status", "max_loaded_at", "snapshotted_at", "age_hours"]
    )


def _table_block(block: str) -> dict:
    try:
        table = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        raise TPMLabError(
            f"The YAML is not valid ({str(exc).splitlines()[0]}).",
            "Check the indentation (spaces, not tabs) and that each list item starts with '- '.",
        ) from exc
    if not isinstance(table, dict) or "columns" not in table:
        raise TPMLabError(
            "The YAML should describe one table: a mapping with `columns:` (a list of columns, "
            "each with its `name:` and `data_tests:`).",
            "Start from the example in the question and keep its top-level key `columns:`.",
        )
    if "name" in table:
        raise TPMLabError(
            "Leave `name:` out of the table block: it is added for you (raw_events).",
            "Delete the top-level `name:` line and run the cell again.",
        )
    return table


def _sources_yaml(block: str, schemas: list[str]) -> str:
    """A sources file: for each schema, a source (``raw``, then ``raw_1``...) with the learner's
    ``raw_events`` block and ``users``; ``source('raw', ...)`` in the block names its own."""
    sources = []
    for i, schema in enumerate(schemas):
        name = RAW_SOURCE if i == 0 else f"{RAW_SOURCE}_{i}"
        text = re.sub(r"""source\(\s*(['"])raw\1""", f"source('{name}'", block)
        sources.append(
            {
                "name": name,
                "schema": schema,
                "tables": [{"name": "raw_events", **_table_block(text)}, {"name": "users"}],
            }
        )
    return yaml.safe_dump({"version": 2, "sources": sources}, sort_keys=False)


def run_tests(ws: Workspace, block: str) -> pd.DataFrame:
    """Run the data tests of a table block written as in a dbt ``sources:`` file (``columns:``
    with ``data_tests:``) on the workspace's ``raw_events``, one row per test. The block's source
    is called ``raw`` and has the tables ``raw_events`` and ``users``, so a relationships test
    reads ``to: source('raw', 'users')``."""
    path = ws.project / "models" / f"{SUBMITTED}.yml"
    path.write_text(_sources_yaml(block, ["main"]))
    try:
        return test(ws, select=f"source:{RAW_SOURCE}")
    finally:
        path.unlink()


def run_tests_on(block: str, datasets: dict[str, tuple]) -> pd.DataFrame:
    """:func:`run_tests` on several copies of Orbit at once (one dbt run, one parse): ``datasets``
    maps a label to ``(source, clean)`` as in :func:`warehouse`. One row per test and dataset,
    with the label in ``dataset``; rows sorted by dataset, column and test."""
    labels = list(datasets)
    schemas = [f"d{i}" for i in range(len(labels))]
    ws = workspace(tables=False)
    try:
        for schema, label in zip(schemas, labels, strict=True):
            source, clean = datasets[label]
            warehouse(ws.database, source, clean=clean, schema=schema, minimal=True)
        path = ws.project / "models" / f"{SUBMITTED}.yml"
        path.write_text(_sources_yaml(block, schemas))
        names = [RAW_SOURCE if i == 0 else f"{RAW_SOURCE}_{i}" for i in range(len(labels))]
        frame = test(ws, select=" ".join(f"source:{n}" for n in names))
    finally:
        ws.close()
    frame.insert(0, "dataset", frame["source"].map(dict(zip(names, labels, strict=True))))
    return frame.sort_values(["dataset", "column", "test"]).reset_index(drop=True)
