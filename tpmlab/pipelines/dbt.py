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
on the clean copy (the copies are made by :mod:`tpmlab.pipelines.warehouses`).

Every run starts from a saved parse of the project when Orbit's cache folder holds one (dbt's
partial parsing: only the files that differ, such as a learner's block, are parsed again), and
the first run keeps its parse there; the grader saves one before a batch (:func:`cache_parse`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from tpmlab.errors import TPMLabError
from tpmlab.pipelines.warehouses import warehouse

PROJECT_DIR = Path(__file__).resolve().parent / "dbt_orbit"

#: The file a learner's table block goes to (see :func:`run_tests`), and its source's name.
SUBMITTED = "submitted"
RAW_SOURCE = "raw"


def _quiet_env() -> None:
    # no usage statistics, no version check: dbt must never reach the network
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    os.environ["DBT_VERSION_CHECK"] = "false"


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
                    # relative to the workspace (dbt runs there): the same profile in every
                    # workspace, so a parse saved by one is valid in the next (see _invoke)
                    "path": ws.database.name,
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


#: dbt's saved parse of a project, which the next run of the same project reads to parse only
#: the files that changed (dbt's "partial parsing").
PARTIAL_PARSE = "partial_parse.msgpack"


def _parse_cache(vars: dict | None) -> tuple[Path, bool]:
    """Where a saved parse of the course's project is kept for the next workspace, and whether
    it can be written there: in Orbit's cache folder, named by dbt's version, the project's
    files and the ``--vars`` (dbt parses in full when the vars differ)."""
    from importlib.metadata import version

    from tpmlab import paths

    digest = hashlib.sha256()
    for dist in ("dbt-core", "dbt-duckdb"):
        digest.update(f"{dist}={version(dist)}|".encode())
    for path in sorted(PROJECT_DIR.rglob("*")):
        rel = path.relative_to(PROJECT_DIR)
        if path.is_file() and rel.parts[0] not in ("target", "logs"):
            digest.update(f"{rel.as_posix()}|".encode() + path.read_bytes())
    digest.update(repr(sorted((vars or {}).items())).encode())
    folder = paths.cache_dir() / "dbt"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    return folder / f"parse-{digest.hexdigest()[:16]}.msgpack", writable


def _close_duckdb() -> None:
    """Close the DuckDB connection dbt-duckdb keeps for the next run in this process: every
    workspace's profile is the same (a relative path), so dbt-duckdb would take the previous
    workspace's open database for this one's."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as Manager

    with Manager._LOCK:
        env, Manager._ENV = Manager._ENV, None
    if env is not None:
        env.close()


def _invoke(ws: Workspace, args: list[str], vars: dict | None = None):
    """Run ``dbt <args>`` in the workspace (in its folder: the profile's path is relative to
    it), starting from a saved parse of the project when there is one (dbt then parses only the
    files that differ, such as a learner's block), and keep this run's parse for the next."""
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
    runner = _dbt_runner()
    saved = ws.project / "target" / PARTIAL_PARSE
    cached, writable = _parse_cache(vars)
    if not saved.exists() and cached.exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, saved)
    try:
        here: str | None = os.getcwd()
    except OSError:  # the folder this process was in is gone
        here = None
    os.chdir(ws.root)
    try:
        result = runner.invoke(flags + cmd)
    finally:
        if here is not None:
            os.chdir(here)
        _close_duckdb()
    if result.exception is not None or result.result is None:
        raise TPMLabError(
            f"dbt could not run `dbt {' '.join(args)}` ({result.exception}).",
            "Read the line above: a YAML mistake (indentation, a missing '-') or a test name "
            "dbt does not know is the usual cause. Fix it and run the cell again.",
        )
    if writable and not cached.exists() and saved.exists():
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            shutil.copyfile(saved, tmp)
            os.replace(tmp, cached)
        except OSError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return result.result


def cache_parse() -> Path | None:
    """Parse the course's project once and keep the parse in Orbit's cache folder (see
    :func:`_invoke`): the grader calls it before a batch, in a process of its own, since the
    grading sandbox cannot write that folder. Returns the saved file (None if not writable)."""
    cached, writable = _parse_cache(None)
    if not cached.exists() and writable:
        with workspace(tables=False) as ws:
            _invoke(ws, ["parse"])
    return cached if cached.exists() else None


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
