"""Deterministic per-table checksums of an Orbit SQLite database, and the committed expectations.

A table's checksum is the SHA-256 of its column names and rows, ordered by primary key (every
column for ``raw_events``, which has none), written as tab-separated text: integers as digits,
floats rounded to 6 decimals (``printf('%.6f')``), text as is, ``NULL`` as ``\\N``. Two builds with the same
seed and scale give the same checksums; ``datasets/checksums.json`` holds those of seed 42 scale 1.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from tpmlab import paths
from tpmlab.data import schema
from tpmlab.errors import DataNotFoundError

CHUNK = 250_000


def expected_path() -> Path:
    """``datasets/checksums.json`` in the repository (not moved by ``TPMLAB_DATA_DIR``)."""
    return paths.REPO_ROOT / "datasets" / "checksums.json"


def _canonical_expr(name: str, kind: str) -> str:
    """SQL that renders one column canonically (SQLite does the formatting: fast)."""
    if kind == "float":
        return f"COALESCE(printf('%.6f', {name}), '\\N')"
    if kind == "int":
        return f"COALESCE(CAST({name} AS TEXT), '\\N')"
    return f"COALESCE({name}, '\\N')"


def table_checksum(con: sqlite3.Connection, name: str) -> dict:
    """``{"rows": n, "sha256": hex}`` of one table."""
    t = schema.table(name)
    cols = [c.name for c in t.columns]
    row = " || char(9) || ".join(_canonical_expr(c.name, schema.column_kind(c)) for c in t.columns)
    order = ", ".join(schema.primary_key_columns(name))
    h = hashlib.sha256(("\t".join(cols) + "\n").encode())
    n = 0
    cur = con.execute(f"SELECT {row} || char(10) FROM {name} ORDER BY {order}")
    while True:
        batch = cur.fetchmany(CHUNK)
        if not batch:
            break
        h.update("".join(r[0] for r in batch).encode())
        n += len(batch)
    return {"rows": n, "sha256": h.hexdigest()}


def checksums(db_path: str | Path | None = None) -> dict[str, dict]:
    """Checksums of every table in the database at ``db_path`` (default: the bundled one)."""
    db = Path(db_path) if db_path is not None else paths.default_db_path()
    if not db.exists():
        raise DataNotFoundError(
            f"There is no Orbit database at {db}.",
            "Run `make data` (or `python -m tpmlab.data build`) first.",
        )
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {name: table_checksum(con, name) for name in schema.TABLE_ORDER}
    finally:
        con.close()


def load_expected() -> dict:
    """The committed expectations: ``{"seed": 42, "scale": 1.0, "tables": {...}}``."""
    return json.loads(expected_path().read_text())


def write_expected(sums: dict[str, dict], seed: int, scale: float, version: str) -> Path:
    """Write ``datasets/checksums.json``."""
    path = expected_path()
    doc = {"seed": seed, "scale": scale, "generator_version": version, "tables": sums}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def compare(actual: dict[str, dict], expected: dict[str, dict]) -> list[str]:
    """Names of tables whose checksum or row count differs (or that are missing on one side)."""
    names = sorted(set(actual) | set(expected))
    return [n for n in names if actual.get(n) != expected.get(n)]
