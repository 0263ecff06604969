"""Orbit's data: build it, open it, copy it elsewhere, and read the truth planted in it.

Typical use in a lesson::

    from tpmlab import data
    import pandas as pd
    eng = data.engine()                     # bundled SQLite (or $TPMLAB_DB_URL)
    pd.read_sql(data.queries.DAU, eng)
    data.manifest()["experiments"]["dark_mode"]

Public API: :func:`engine`, :func:`build`, :func:`manifest`, :func:`load_into`,
:func:`reseeded_engine`, :func:`capstone_engine`, :func:`table_checksums`, :func:`db_path`, and the modules :mod:`.schema` and
:mod:`.queries`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlalchemy.engine import Engine

from tpmlab import paths
from tpmlab.data import queries, schema
from tpmlab.data.engines import connect, engine, sqlite_engine
from tpmlab.errors import DataNotFoundError

__all__ = [
    "build",
    "capstone_engine",
    "table_checksums",
    "connect",
    "db_path",
    "engine",
    "load_into",
    "manifest",
    "queries",
    "reseeded_engine",
    "reseeded_path",
    "RESEEDED_SCALE",
    "schema",
]

#: The scale of a re-seeded copy of Orbit when none is given (small: a grader builds it at once).
RESEEDED_SCALE = 0.25


def db_path() -> Path:
    """Path of the bundled SQLite database (it may not exist yet)."""
    return paths.default_db_path()


def build(seed: int = 42, scale: float = 1.0, out: str | Path | None = None) -> Path:
    """Generate the dataset into ``out`` (default ``datasets/``); returns the database path."""
    from tpmlab.data.builder import build as _build

    return _build(seed, scale, out)


def manifest(data_dir: str | Path | None = None) -> dict:
    """The manifest (planted truth, counts, seed) of the dataset in ``data_dir`` (default one)."""
    folder = Path(data_dir) if data_dir is not None else paths.data_dir()
    path = folder / "manifest.json"
    if not path.exists():
        raise DataNotFoundError(
            f"The Orbit dataset has not been built yet: there is no {path}.",
            "Run `make data` (or `python -m tpmlab.data build`) in the course folder.",
        )
    return json.loads(path.read_text())


def load_into(url: str, source_db: str | Path | None = None, **kwargs) -> dict[str, int]:
    """Copy every table into the database at ``url`` (see :func:`tpmlab.data.load.load_into`)."""
    from tpmlab.data.load import load_into as _load

    return _load(url, source_db, **kwargs)


def table_checksums(db: str | Path | None = None) -> dict[str, dict]:
    """Per-table checksums of a database (default: the bundled one)."""
    from tpmlab.data.checksums import checksums as _sums

    return _sums(db)


def capstone_engine(seed: int = 42, scale: float = 1.0) -> Engine:
    """An engine on module 8's scenario: Orbit with the activation drop planted (built once per
    seed and scale, then cached; see :mod:`tpmlab.data.capstone`)."""
    from tpmlab.data.capstone import capstone_engine as _engine

    return _engine(seed, scale)


def reseeded_path(seed: int, scale: float = RESEEDED_SCALE) -> Path:
    """Where the re-seeded copy for ``seed`` and ``scale`` is cached."""
    from tpmlab.data.inputs import check_scale, check_seed

    seed, scale = check_seed(seed), check_scale(scale)
    return paths.cache_dir() / f"seed-{seed}-scale-{scale:g}" / "orbit.sqlite"


def _version_of(db: Path) -> str | None:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = con.execute(
                "SELECT value FROM dataset_info WHERE key = 'generator_version'"
            ).fetchone()
        finally:
            con.close()
        return row[0] if row else None
    except sqlite3.Error:
        return None


def reseeded_engine(seed: int, scale: float = RESEEDED_SCALE) -> Engine:
    """An engine on a copy of Orbit generated with another ``seed`` (built once, then cached).

    Graders use it so that an answer hard-coded from the default data fails.
    """
    # the generator's version alone (tpmlab.data.version): importing the generator itself
    # (numpy's and scipy's statistics) took longer than opening the copy, which is built once
    from tpmlab.data.version import GENERATOR_VERSION

    db = reseeded_path(seed, scale)
    if not db.exists() or _version_of(db) != GENERATOR_VERSION:
        from tpmlab.data.builder import build as _build

        _build(seed, scale, db.parent)
    return sqlite_engine(db)
