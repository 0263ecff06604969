"""Command line for Orbit's data: ``python -m tpmlab.data build|info|load|checksums``.

python -m tpmlab.data build [--seed 42] [--scale 1.0] [--out DIR] [--scenario activation-drop]
python -m tpmlab.data info [--dir DIR]
python -m tpmlab.data load URL [--source FILE] [--replace]
python -m tpmlab.data checksums [--db FILE] [--write | --check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tpmlab import paths
from tpmlab.errors import TPMLabError


def _cmd_build(args) -> int:
    if args.scenario == "activation-drop":
        from tpmlab.data import capstone

        capstone.build(args.seed, args.scale, args.out, quiet=False)
        return 0
    if args.scenario not in (None, "default"):
        raise TPMLabError(
            f"There is no scenario {args.scenario!r}.",
            "Leave --scenario out for Orbit's default data, or use --scenario activation-drop "
            "(module 8's capstone).",
        )
    from tpmlab.data.builder import build

    build(args.seed, args.scale, args.out, quiet=False)
    return 0


def _cmd_info(args) -> int:
    import sqlite3

    from tpmlab.data import manifest

    folder = Path(args.dir) if args.dir else paths.data_dir()
    db = folder / "orbit.sqlite"
    m = manifest(folder)
    print(f"database:  {db}{'' if db.exists() else '  (MISSING)'}")
    print(f"manifest:  {folder / 'manifest.json'}")
    print(f"seed:      {m['seed']}")
    print(f"scale:     {m['scale']:g}")
    print(f"generator: {m['generator_version']}")
    print(f"dates:     {m['date_range'][0]} .. {m['date_range'][1]} (UTC)")
    counts = m["row_counts"]
    if db.exists():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in counts}
        con.close()
        print(f"size:      {db.stat().st_size / 1e6:,.0f} MB")
    print("rows:")
    for t, n in counts.items():
        print(f"  {t:<24}{n:>12,}")
    return 0


def _cmd_load(args) -> int:
    from tpmlab.data.load import load_into

    counts = load_into(
        args.url,
        args.source,
        if_exists="replace" if args.replace else "fail",
        db_schema=args.schema,
        quiet=False,
    )
    print(f"Loaded {len(counts)} tables, {sum(counts.values()):,} rows.")
    return 0


def _cmd_checksums(args) -> int:
    import json
    import sqlite3

    from tpmlab.data import checksums as cs
    from tpmlab.data.generate import GENERATOR_VERSION

    db = Path(args.db) if args.db else paths.default_db_path()
    sums = cs.checksums(db)
    for name, v in sums.items():
        print(f"{name:<24}{v['rows']:>10}  {v['sha256']}")
    if args.write or args.check:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        info = dict(con.execute("SELECT key, value FROM dataset_info").fetchall())
        con.close()
        seed, scale = int(info["seed"]), float(info["scale"])
        if (seed, scale) != (42, 1.0):
            raise TPMLabError(
                f"The expected checksums are for seed 42 scale 1, but {db} has seed {seed} "
                f"scale {scale:g}.",
                "Build the default data (python -m tpmlab.data build) and run this again.",
            )
        if args.write:
            path = cs.write_expected(sums, seed, scale, GENERATOR_VERSION)
            print(f"Wrote {path}")
        else:
            expected = cs.load_expected()["tables"]
            diff = cs.compare(sums, expected)
            if diff:
                print("Different from datasets/checksums.json: " + ", ".join(diff))
                return 1
            print("All tables match datasets/checksums.json.")
    if args.json:
        print(json.dumps(sums, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpmlab.data", description="Build, inspect and copy Orbit's dataset."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate orbit.sqlite and manifest.json")
    b.add_argument("--seed", default=42, help="random seed (whole number, default 42)")
    b.add_argument("--scale", default=1.0, help="size multiplier (default 1.0 = ~20k users)")
    b.add_argument("--out", default=None, help=f"output folder (default {paths.data_dir()})")
    b.add_argument(
        "--scenario",
        default=None,
        help="activation-drop: module 8's capstone data (default folder datasets/capstone/)",
    )
    b.set_defaults(func=_cmd_build)
    i = sub.add_parser("info", help="where the data is, its seed, scale and row counts")
    i.add_argument("--dir", default=None, help="dataset folder (default: datasets/)")
    i.set_defaults(func=_cmd_info)
    ld = sub.add_parser("load", help="copy the dataset into another database")
    ld.add_argument("url", help="SQLAlchemy URL, e.g. postgresql://user@127.0.0.1:5432/orbit")
    ld.add_argument("--source", default=None, help="SQLite file to copy (default: bundled)")
    ld.add_argument("--replace", action="store_true", help="drop existing Orbit tables first")
    ld.add_argument("--schema", default=None, help="PostgreSQL/DuckDB schema to load into")
    ld.set_defaults(func=_cmd_load)
    c = sub.add_parser("checksums", help="per-table checksums of a database")
    c.add_argument("--db", default=None, help="SQLite file (default: bundled)")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help="write datasets/checksums.json")
    g.add_argument("--check", action="store_true", help="compare with datasets/checksums.json")
    c.add_argument("--json", action="store_true", help="also print them as JSON")
    c.set_defaults(func=_cmd_checksums)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TPMLabError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
