"""Cluster grading benchmark: ``tpmlab-grade autograde --cluster`` with 1, 2 and 4 Dask workers
next to local grading, on this machine, in one run. Run on demand, never in CI.

Usage: ``python bench/bench_cluster.py [--assignment 00-warmup] [--students 12]
[--local-workers N] [--sizes 1,2,4]`` (needs the cluster extra, bubblewrap and root).

The same generated class (``tpmlab.grading.demo.make_class``) is graded in fresh copies of the
course: once by local workers, then on a local Dask cluster (``dask scheduler`` and N ``dask
worker --nthreads 1`` processes on localhost, started here) for each size; every run must give
the local run's scores. Printed: each run's wall time, throughput (submissions per minute) and
its ratio to local grading; the measured per-submission cost on a worker (the mean time a worker
spent on one student in the 1-worker run) and on the coordinator (recording one student:
gradebook, flags, autograded folder); and, from those, the number of worker threads needed to
grade 10,000 submissions in 15 minutes, assuming one grading thread per core and workers that
do not slow each other (on this machine they share its cores: the 2- and 4-worker rows show how
far that holds here).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tpmlab.grading import autograde as autograde_module
from tpmlab.grading.autograde import autograde
from tpmlab.grading.demo import make_class, make_course

BIN = Path(sys.executable).parent
TARGET_SUBMISSIONS = 10_000
TARGET_SECONDS = 15 * 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """``dask scheduler`` and ``n`` one-thread ``dask worker`` processes on localhost."""

    def __init__(self, n: int, logs: Path):
        from distributed import Client

        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.procs = []
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
        port = self.address.rsplit(":", 1)[1]
        self._start([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", port], logs, env)
        for i in range(n):
            cmd = [BIN / "dask", "worker", self.address, "--nthreads", "1", "--nworkers", "1"]
            self._start(
                [*cmd, "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"], logs, env
            )
        with Client(self.address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=180)

    def _start(self, cmd, logs: Path, env) -> None:
        log = open(logs / f"dask-{len(self.procs)}.log", "w")  # noqa: SIM115 - lives with it
        self.procs.append(
            subprocess.Popen(
                [str(c) for c in cmd], stdout=log, stderr=log, env=env, start_new_session=True
            )
        )

    def close(self) -> None:
        for proc in reversed(self.procs):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _timed_finish():
    """Wrap the coordinator's recording step to measure it; returns the list of durations."""
    durations: list[float] = []
    finish = autograde_module._finish

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return finish(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - started)

    autograde_module._finish = timed
    return durations


def grade(tmp: Path, name: str, assignment: str, students: int, **kwargs):
    course = make_course(tmp / name, assignment)
    make_class(course, assignment, students)
    course.ensure_assignment(assignment)
    started = time.perf_counter()
    results = autograde(course, assignment, progress=False, sandbox="required", **kwargs)
    return results, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assignment", default="00-warmup")
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--local-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sizes", default="1,2,4")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, load average {load:.1f} at the start; "
        f"assignment {args.assignment}; {args.students} submissions per run"
    )
    finish_times = _timed_finish()
    rows = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        # the answer key is built (and cached) before any timing, as in bench_grading.py
        from tpmlab.course import EXERCISES
        from tpmlab.grading import keys

        for source in sorted((EXERCISES / args.assignment).glob("*.ipynb")):
            keys.load_key(source)
        local, seconds = grade(
            tmp, "local", args.assignment, args.students, workers=args.local_workers
        )
        expected = {r.student: r.score for r in local}
        rows.append((f"local ({args.local_workers} worker processes)", seconds, None))
        worker_cost = None
        coordinator_cost = sum(finish_times) / len(finish_times)
        for n in sizes:
            cluster = Cluster(n, tmp)
            try:
                finish_times.clear()
                results, seconds = grade(
                    tmp, f"cluster-{n}", args.assignment, args.students, cluster=cluster.address
                )
            finally:
                cluster.close()
            got = {r.student: r.score for r in results}
            if got != expected:
                print(f"cluster of {n} gave other scores than local grading: {got} != {expected}")
                return 1
            if n == 1:
                worker_cost = sum(r.seconds for r in results) / len(results)
                coordinator_cost = sum(finish_times) / len(finish_times)
            rows.append((f"cluster, {n} worker{'s' * (n > 1)}", seconds, n))
    base = rows[0][1]
    print(f"{'run':<36} {'wall s':>8} {'subs/min':>9} {'vs local':>9}")
    for label, seconds, _ in rows:
        rate = args.students / seconds * 60
        print(f"{label:<36} {seconds:8.1f} {rate:9.1f} {base / seconds:8.2f}x")
    print("every run gave the same scores as local grading")
    if worker_cost is None:
        return 0
    threads = math.ceil(TARGET_SUBMISSIONS * worker_cost / TARGET_SECONDS)
    coordinator_total = TARGET_SUBMISSIONS * coordinator_cost
    print(
        f"\nmeasured per submission: {worker_cost:.2f} s on a worker (1-worker run), "
        f"{coordinator_cost:.3f} s recording it on the coordinator"
    )
    print(
        f"10,000 submissions in 15 minutes need {TARGET_SUBMISSIONS} x {worker_cost:.2f} s / "
        f"{TARGET_SECONDS} s = {threads} worker threads (one per core, e.g. "
        f"{math.ceil(threads / 8)} machines of 8 cores), if workers do not slow each other; "
        f"the coordinator records one student at a time: {coordinator_total / 60:.1f} minutes "
        f"for 10,000 ({'within' if coordinator_total <= TARGET_SECONDS else 'over'} the 15)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
