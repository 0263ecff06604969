"""``python -m tpmlab.api``: run the practice API in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import threading

from tpmlab.api.config import READ_TOKEN, WRITE_TOKEN
from tpmlab.api.server import start_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpmlab.api", description="Run Orbit's practice API on this machine."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--db", default=None, help="Orbit SQLite file (default: the course's)")
    parser.add_argument("--page-size", type=int, default=20, help="default page size")
    parser.add_argument("--max-page-size", type=int, default=100)
    parser.add_argument(
        "--rate-limit", default="1000/60", help="REQUESTS/SECONDS per token, or 'off'"
    )
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of injected 5xx")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--slow-rate", type=float, default=0.0)
    parser.add_argument("--slow-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault dice")
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="only build the API's data cache for the dataset (done once; `make data` can run it)",
    )
    args = parser.parse_args(argv)
    if args.prepare:
        from pathlib import Path

        from tpmlab.api.store import default_database, prepare_cache

        print(prepare_cache(Path(args.db) if args.db else default_database()))
        return 0
    if args.rate_limit == "off":
        limit, window = None, 60.0
    else:
        try:
            n, s = args.rate_limit.split("/")
            limit, window = int(n), float(s)
        except ValueError:
            parser.error("--rate-limit must look like 60/60 (requests/seconds) or 'off'")
    server = start_server(
        db_path=args.db,
        host=args.host,
        port=args.port,
        default_page_size=args.page_size,
        max_page_size=args.max_page_size,
        rate_limit=limit,
        rate_window_s=window,
        error_rate=args.error_rate,
        latency_ms=args.latency_ms,
        slow_rate=args.slow_rate,
        slow_ms=args.slow_ms,
        fault_seed=args.seed,
    )
    print(f"Orbit practice API running at {server.url}  (OpenAPI: {server.url}/openapi.json)")
    print(f"  read-only token:  {READ_TOKEN}")
    print(f"  read-write token: {WRITE_TOKEN}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print("Stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
