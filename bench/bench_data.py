"""Benchmark Orbit's data: build time and peak memory at scale 1 and 10, and the standard queries.

Run with ``make bench-data`` (or ``python bench/bench_data.py``). Each build runs in a child
process so that its peak memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) is its own;
wall time and CPU time are both reported because a busy machine inflates wall time. Query times
are measured on the default database (built if missing), best of three runs.

Targets: scale 1 build < 30 s and < 1.5 GB; scale 10 < 5 min and < 6 GB; each query < 1 s.
Options: ``--scales 1 10`` to choose scales, ``--skip-build`` for queries only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGETS = {1.0: (30.0, 1.5), 10.0: (300.0, 6.0)}  # seconds, GB


def bench_build(scale: float) -> dict:
    """Build at ``scale`` in a child process; wall, CPU, peak RSS and row counts."""
    with tempfile.TemporaryDirectory(prefix=f"orbit-bench-{scale:g}-") as out:
        code = (
            f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
            "from tpmlab.data.builder import build\n"
            f"build(42, {scale!r}, {out!r})\n"
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        manifest = json.loads((Path(out) / "manifest.json").read_text())
        size = (Path(out) / "orbit.sqlite").stat().st_size
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "scale": scale,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_gb": after.ru_maxrss / 1024**2,  # ru_maxrss is in KiB on Linux
        "rows": sum(manifest["row_counts"].values()),
        "events": manifest["row_counts"]["events"],
        "db_mb": size / 1e6,
    }


def bench_queries(repeats: int = 3) -> list[dict]:
    import pandas as pd

    from tpmlab import paths
    from tpmlab.data import queries, sqlite_engine

    db = paths.default_db_path()
    if not db.exists():
        from tpmlab.data.builder import build

        build(42, 1.0)
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    info = dict(con.execute("SELECT key, value FROM dataset_info").fetchall())
    n_events = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    con.close()
    eng = sqlite_engine(db)
    results = []
    for name in queries.NAMES:
        best_wall, best_cpu, rows = float("inf"), float("inf"), 0
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            df = pd.read_sql(queries.get(name), eng)
            best_wall = min(best_wall, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
            rows = len(df)
        results.append(
            {
                "query": name,
                "wall_s": best_wall,
                "cpu_s": best_cpu,
                "result_rows": rows,
                "data": f"seed {info['seed']} scale {info['scale']}, {n_events:,} events",
            }
        )
    eng.dispose()
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="*", default=[1.0, 10.0])
    ap.add_argument("--skip-build", action="store_true")
    args = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    ok = True
    if not args.skip_build:
        print("\nBuild (seed 42), each in a fresh child process:")
        for scale in args.scales:
            r = bench_build(scale)
            t_max, gb_max = TARGETS.get(scale, (None, None))
            verdict = ""
            if t_max is not None:
                good = r["wall_s"] < t_max and r["peak_rss_gb"] < gb_max
                ok &= good
                verdict = f"  target < {t_max:.0f} s, < {gb_max} GB: {'OK' if good else 'MISSED'}"
            print(
                f"  scale {scale:>4g}: {r['wall_s']:6.1f} s wall, {r['cpu_s']:6.1f} s CPU, "
                f"peak {r['peak_rss_gb']:.2f} GB, {r['rows']:,} rows ({r['events']:,} events), "
                f"{r['db_mb']:,.0f} MB{verdict}"
            )
    print("\nStandard queries on SQLite (tpmlab/data/queries.py), best of 3:")
    for r in bench_queries():
        good = r["wall_s"] < 1.0
        ok &= good
        print(
            f"  {r['query']:<18}{r['wall_s']:6.3f} s wall, {r['cpu_s']:6.3f} s CPU, "
            f"{r['result_rows']:>4} rows  [{r['data']}]  target < 1 s: {'OK' if good else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
