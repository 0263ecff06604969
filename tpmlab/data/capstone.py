"""The capstone's scenario database: Orbit with the activation drop planted, built on demand.

``python -m tpmlab.data build --scenario activation-drop [--seed 42]`` (or the first call of
:func:`capstone_engine`) generates the default Orbit for the seed, plants module 8's incident and
decoys on it (:mod:`tpmlab.data.generate.capstone`) and writes ``orbit.sqlite`` and
``manifest.json`` into ``datasets/capstone/`` (seed 42, scale 1) or a cache folder of its own
(other seeds and scales), so the default database, its checksums and every other module's numbers
never move. A later call opens the cached copy; one built by another version of the generator is
rebuilt. Its schema is Orbit's without the raw layer, plus three columns: ``events.app_version``,
``api_requests.app_version`` (Orbit's own clients; NULL for integrations) and
``deploys.version`` (the release a successful client deploy shipped).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from pathlib import Path

from sqlalchemy import Column, MetaData, Table, Text, event
from sqlalchemy.engine import Engine

from tpmlab import paths
from tpmlab.data import schema
from tpmlab.data.engines import sqlite_engine
from tpmlab.errors import DataNotFoundError

SCENARIO = "activation-drop"
#: Bump when the scenario's planting changes: cached copies of another version are rebuilt.
CAPSTONE_VERSION = "1.0.0"

_metadata = MetaData()


#: The tables of the scenario's database (every Orbit table but the raw layer).
TABLES = [t for t in schema.TABLE_ORDER if t != "raw_events"]


def _tables() -> list[Table]:
    if not _metadata.tables:
        for name in TABLES:
            schema.table(name).to_metadata(_metadata)
        _metadata.tables["events"].append_column(Column("app_version", Text, nullable=False))
        _metadata.tables["api_requests"].append_column(Column("app_version", Text, nullable=True))
        _metadata.tables["deploys"].append_column(Column("version", Text, nullable=True))
    return [_metadata.tables[n] for n in TABLES]


def tables() -> list[Table]:
    """The scenario database's tables (SQLAlchemy), in load order."""
    return _tables()


def version() -> str:
    """The generator version a cached scenario database must carry to be reused."""
    from tpmlab.data.version import GENERATOR_VERSION

    return f"{GENERATOR_VERSION}+capstone.{CAPSTONE_VERSION}"


def folder(seed: int = 42, scale: float = 1.0) -> Path:
    """Where the scenario database for ``seed`` and ``scale`` lives."""
    from tpmlab.data.inputs import check_scale, check_seed

    seed, scale = check_seed(seed), check_scale(scale)
    if (seed, scale) == (42, 1.0):
        return paths.data_dir() / "capstone"
    return paths.cache_dir() / f"capstone-seed-{seed}-scale-{scale:g}"


def _built_version(db: Path) -> str | None:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT value FROM dataset_info WHERE key = 'generator_version'")
            found = row.fetchone()
        finally:
            con.close()
        return found[0] if found else None
    except sqlite3.Error:
        return None


def build(seed: int = 42, scale: float = 1.0, out=None, *, quiet: bool = True) -> Path:
    """Generate the scenario into ``out`` (default :func:`folder`); returns the database path."""
    import pandas as pd

    from tpmlab.data import builder, generate
    from tpmlab.data.generate.capstone import plant_activation_drop

    seed, scale = builder.check_seed(seed), builder.check_scale(scale)
    out = Path(out) if out is not None else folder(seed, scale)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ds = generate.generate(seed, scale)
    plant_activation_drop(seed, ds)
    info = ds.tables["dataset_info"].copy()
    info.loc[info.key == "generator_version", "value"] = version()
    info = pd.concat([info, pd.DataFrame({"key": ["scenario"], "value": [SCENARIO]})])
    ds.tables["dataset_info"] = info.reset_index(drop=True)
    t1 = time.perf_counter()
    db = out / builder.DB_NAME
    counts = builder.write_sqlite(ds, db, tables())
    t2 = time.perf_counter()
    manifest = {
        "dataset": "Orbit",
        "scenario": SCENARIO,
        "generator_version": version(),
        "seed": seed,
        "scale": scale,
        "database": builder.DB_NAME,
        "date_range": list(generate.DATE_RANGE),
        "timezone": "UTC",
        "row_counts": counts,
        "capstone": ds.facts["capstone"],
    }
    tmp = out / f".{builder.MANIFEST_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, out / builder.MANIFEST_NAME)
    if not quiet:
        print(
            f"Built {db} (scenario {SCENARIO}, seed {seed}, scale {scale:g}): generate "
            f"{t1 - t0:.1f}s, write {t2 - t1:.1f}s, {sum(counts.values()):,} rows."
        )
    return db


def db_path(seed: int = 42, scale: float = 1.0) -> Path:
    """The scenario database for ``seed`` and ``scale``, built first if missing or stale."""
    db = folder(seed, scale) / "orbit.sqlite"
    if not db.exists() or _built_version(db) != version():
        build(seed, scale)
    return db


def capstone_engine(seed: int = 42, scale: float = 1.0) -> Engine:
    """A read-only engine on the capstone's Orbit for ``seed`` (built once, then cached)."""
    return sqlite_engine(db_path(seed, scale), read_only=True)


#: The onboarding steps a second break can hide, and the platforms it can hit.
_STEPS = ("onboarding_complete", "project_created", "task_created")
_PLATFORMS = ("web", "ios", "android")


def second_break_engine(
    seed: int = 42,
    platform: str = "web",
    step: str = "onboarding_complete",
    since: str = "2025-06-12",
) -> Engine:
    """The capstone's Orbit for ``seed`` with a second break on top, for the hidden tests of a
    question that takes a platform: six in seven of the ``step`` events of ``platform``'s signups
    from ``since`` on are gone. Each connection gets a TEMP VIEW named ``events`` that hides them
    (SQLite resolves a bare table name in ``temp`` before ``main``); the file is not changed.
    Two platforms then break at two different steps, so an answer that ignores its ``platform``
    argument names the same step for both and misses one."""
    if (
        platform not in _PLATFORMS
        or step not in _STEPS
        or not re.fullmatch(r"\d{4}-\d\d-\d\d", since)
    ):
        raise ValueError(f"unknown platform, step or date: {platform!r}, {step!r}, {since!r}")
    eng = capstone_engine(seed)

    @event.listens_for(eng, "connect")
    def _second_break(dbapi_conn, _record):  # pragma: no cover - trivial
        dbapi_conn.execute(
            "CREATE TEMP VIEW IF NOT EXISTS events AS SELECT * FROM main.events WHERE NOT ("
            f"event_name = '{step}' AND user_id % 7 <> 0 AND user_id IN (SELECT user_id FROM "
            f"main.users WHERE platform = '{platform}' AND signup_date >= '{since}'))"
        )

    return eng


def manifest(seed: int = 42, scale: float = 1.0) -> dict:
    """The scenario's manifest (its planted truth is for graders and tests, not for learners)."""
    path = folder(seed, scale) / "manifest.json"
    if not path.exists():
        raise DataNotFoundError(
            f"The capstone's data has not been built yet: there is no {path}.",
            "Run `python -m tpmlab.data build --scenario activation-drop` in the course folder.",
        )
    return json.loads(path.read_text())
