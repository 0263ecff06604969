"""Write a generated dataset to SQLite and its manifest, atomically, and validate build inputs.

The database is built into a temporary file beside the target and moved into place with
``os.replace`` only when complete, so a crashed or interrupted build never leaves half a database.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from tpmlab import paths
from tpmlab.data import generate, schema
from tpmlab.data.inputs import check_scale, check_seed
from tpmlab.errors import TPMLabError

CHUNK_ROWS = 200_000
DB_NAME = "orbit.sqlite"
MANIFEST_NAME = "manifest.json"


def _py_values(arr, kind: str, nullable: bool) -> list:
    """One column chunk as Python values in the SQLite storage format."""
    if isinstance(arr, pd.Categorical):
        arr = np.asarray(arr.astype(object))
    arr = np.asarray(arr)
    if kind == "timestamp":
        if nullable:
            out = np.full(len(arr), None, dtype=object)
            ok = arr != generate.NULL_TS
            out[ok] = generate.format_ts(arr[ok])
            return out.tolist()
        return generate.format_ts(arr).tolist()
    if kind == "date":
        return generate.format_date(arr).tolist()
    if kind == "int":
        if arr.dtype.kind == "f":
            out = np.full(len(arr), None, dtype=object)
            ok = ~np.isnan(arr)
            out[ok] = arr[ok].astype(np.int64).tolist()
            return out.tolist()
        if nullable and arr.dtype.kind in "iu":
            out = arr.astype(object)
            out[arr < 0] = None
            return out.tolist()
        return arr.tolist()
    if kind == "float":
        arr = arr.astype(float)
        if nullable:
            out = arr.astype(object)
            out[np.isnan(arr)] = None
            return out.tolist()
        return arr.tolist()
    return arr.tolist()


def write_sqlite(ds: generate.Dataset, path: Path, tables=None) -> dict[str, int]:
    """Write every table of ``ds`` to a new SQLite file at ``path``; returns row counts.

    ``tables`` (SQLAlchemy tables, in load order) defaults to Orbit's schema; a scenario build
    passes its own (:mod:`tpmlab.data.capstone`)."""
    tables = tables if tables is not None else [schema.table(n) for n in schema.TABLE_ORDER]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    dialect = sqlite_dialect.dialect()
    counts: dict[str, int] = {}
    try:
        con = sqlite3.connect(tmp)
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-200000")
        con.execute("PRAGMA temp_store=MEMORY")
        con.execute("PRAGMA threads=2")
        for t in tables:
            name = t.name
            con.execute(str(CreateTable(t).compile(dialect=dialect)))
            df = ds.tables[name]
            cols = [c.name for c in t.columns]
            missing = set(cols) - set(df.columns)
            if missing:  # pragma: no cover - a generator bug
                raise RuntimeError(f"{name}: generator did not produce {sorted(missing)}")
            kinds = [(schema.column_kind(c), bool(c.nullable)) for c in t.columns]
            sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            for start in range(0, len(df), CHUNK_ROWS):
                chunk = df.iloc[start : start + CHUNK_ROWS]
                values = [
                    _py_values(
                        chunk[c].array
                        if isinstance(chunk[c].dtype, pd.CategoricalDtype)
                        else chunk[c].to_numpy(),
                        k,
                        nl,
                    )
                    for c, (k, nl) in zip(cols, kinds, strict=True)
                ]
                con.executemany(sql, zip(*values, strict=True))
            counts[name] = len(df)
        con.commit()
        for t in tables:
            for idx in sorted(t.indexes, key=lambda i: i.name):
                con.execute(str(CreateIndex(idx).compile(dialect=dialect)))
        con.commit()
        con.execute("PRAGMA analysis_limit=1000")
        con.execute("ANALYZE")
        con.commit()
        con.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return counts


def _funnel_facts(ev: pd.DataFrame) -> dict:
    """Ordered vs order-ignoring funnel counts and the out-of-order shares, from the events."""
    steps = ["signup", "onboarding_complete", "project_created", "task_created", "invite_sent"]
    sub = ev[ev["event_name"].isin(steps)]
    first = sub.groupby(["user_id", "event_name"], observed=True)["event_time"].min().unstack()
    first = first.reindex(columns=steps)
    n_users = int(first["signup"].notna().sum())
    unordered = [int(first[s].notna().sum()) for s in steps]
    ordered = []
    prev = first["signup"].copy()
    for s in steps:
        if s == "signup":
            reached = prev.notna()
        else:
            # first occurrence of this step at or after the previous step's first time
            cand = sub[sub["event_name"] == s][["user_id", "event_time"]]
            cand = cand.merge(prev.rename("prev").reset_index(), on="user_id")
            cand = cand[cand["event_time"] >= cand["prev"]]
            nxt = cand.groupby("user_id")["event_time"].min()
            prev = nxt.reindex(first.index)
            reached = prev.notna()
        ordered.append(int(reached.sum()))
    proj_before = (first["project_created"].notna()) & (
        first["onboarding_complete"].isna()
        | (first["project_created"] < first["onboarding_complete"])
    )
    task_no_proj = first["task_created"].notna() & first["project_created"].isna()
    return {
        "steps": steps,
        "ordered_counts": ordered,
        "unordered_counts": unordered,
        "users_project_before_onboarding": int(proj_before.sum()),
        "share_project_before_onboarding": round(float(proj_before.sum()) / n_users, 4),
        "users_task_without_own_project": int(task_no_proj.sum()),
    }


def _money_facts(subs: pd.DataFrame, ws: pd.DataFrame, payments: pd.DataFrame) -> dict:
    end = generate.LAST
    active = (subs["started_at"] <= end) & (
        (subs["ended_at"] == generate.NULL_TS) | (subs["ended_at"] > end)
    )
    return {
        "workspaces": len(ws),
        "workspaces_ever_paid": int(subs["workspace_id"].nunique()),
        "share_workspaces_ever_paid": round(subs["workspace_id"].nunique() / len(ws), 4),
        "mrr_usd_2025_06_30": round(float(subs.loc[active, "mrr_usd"].sum()), 2),
        "payment_failure_rate": round(float((payments["status"] == "failed").mean()), 4),
    }


def build(seed=42, scale=1.0, out=None, *, quiet: bool = True) -> Path:
    """Generate the dataset and write ``orbit.sqlite`` and ``manifest.json`` into ``out``."""
    seed, scale = check_seed(seed), check_scale(scale)
    out = Path(out) if out is not None else paths.data_dir()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TPMLabError(
            f"Cannot create the folder {out} for the dataset ({exc.strerror}).",
            "Choose a folder you can write to with --out.",
        ) from exc
    t0 = time.perf_counter()
    ds = generate.generate(seed, scale)
    t1 = time.perf_counter()
    db = out / DB_NAME
    counts = write_sqlite(ds, db)
    t2 = time.perf_counter()
    manifest = {
        "dataset": "Orbit",
        "generator_version": generate.GENERATOR_VERSION,
        "seed": seed,
        "scale": scale,
        "database": DB_NAME,
        "date_range": list(generate.DATE_RANGE),
        "timezone": "UTC",
        "row_counts": counts,
        "funnel": _funnel_facts(ds.tables["events"]) | ds.facts.get("funnel", {}),
        "money": _money_facts(
            ds.tables["subscriptions"], ds.tables["workspaces"], ds.tables["payments"]
        ),
        "experiments": ds.facts["experiments"],
        "incident": ds.facts["incident"],
        "raw_problems": ds.facts["raw_problems"],
        "metric_drop": ds.facts["metric_drop"],
        "metric_decoy": ds.facts["metric_decoy"],
        "api_requests_window": ["2025-06-01", "2025-06-30"],
    }
    tmp = out / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, out / MANIFEST_NAME)
    if not quiet:
        print(
            f"Built {db} (seed {seed}, scale {scale:g}): generate {t1 - t0:.1f}s, "
            f"write {t2 - t1:.1f}s, {sum(counts.values()):,} rows."
        )
    return db
