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
gradebook, flags, autograded folder; its mean and median over every cluster run), the
gradebook write alone with the course gradebook opened once for the run and opened for each
student (``record_grades`` without ``book``), on the same students in the same run; and, from those, the number of worker threads
needed to grade 10,000 submissions in 15 minutes, assuming one grading thread per core and
workers that do not slow each other (on this machine they share its cores: the 2- and 4-worker
rows show how far that holds here), and whether the coordinator, which records one student at
a time while the cluster keeps grading, caps that rate.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import statistics
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


def _recording_without_open_gradebook(course, assignment: str) -> list[float]:
    """One gradebook write per student of an already graded ``course`` (0 on every item) with
    nbgrader's ``Gradebook`` opened for each student (schema inspected, ``create_all``,
    statements compiled again), as every write did before a run kept it open."""
    from tpmlab.grading.gradebook import record_grades

    times = []
    for student in course.submitted_students(assignment):
        started = time.perf_counter()
        record_grades(course, assignment, student, None, ["bench"], None)
        times.append(time.perf_counter() - started)
    return times


def _recording_with_open_gradebook(course, assignment: str) -> list[float]:
    """The same writes through one :class:`CourseGradebook` held open for the run."""
    from tpmlab.grading.gradebook import CourseGradebook, record_grades

    times = []
    with CourseGradebook(course, assignment) as book:
        for student in course.submitted_students(assignment):
            started = time.perf_counter()
            record_grades(course, assignment, student, None, ["bench"], None, book=book)
            times.append(time.perf_counter() - started)
    return times


def grade(tmp: Path, name: str, assignment: str, students: int, **kwargs):
    course = make_course(tmp / name, assignment)
    make_class(course, assignment, students)
    course.ensure_assignment(assignment)
    started = time.perf_counter()
    results = autograde(course, assignment, progress=False, sandbox="required", **kwargs)
    return results, time.perf_counter() - started, course


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
        local, seconds, local_course = grade(
            tmp, "local", args.assignment, args.students, workers=args.local_workers
        )
        expected = {r.student: r.score for r in local}
        rows.append((f"local ({args.local_workers} worker processes)", seconds, None))
        worker_cost = None
        coordinator_cost = sum(finish_times) / len(finish_times)
        cluster_finish: list[float] = []
        for n in sizes:
            cluster = Cluster(n, tmp)
            try:
                finish_times.clear()
                results, seconds, _ = grade(
                    tmp, f"cluster-{n}", args.assignment, args.students, cluster=cluster.address
                )
                cluster_finish += finish_times
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
        # the recording step alone, before and after keeping the gradebook open, on the same
        # graded course, alternated so that load on the machine falls on both alike
        before: list[float] = []
        after: list[float] = []
        for _ in range(3):
            before += _recording_without_open_gradebook(local_course, args.assignment)
            after += _recording_with_open_gradebook(local_course, args.assignment)
    base = rows[0][1]
    print(f"{'run':<36} {'wall s':>8} {'subs/min':>9} {'vs local':>9}")
    for label, seconds, _ in rows:
        rate = args.students / seconds * 60
        print(f"{label:<36} {seconds:8.1f} {rate:9.1f} {base / seconds:8.2f}x")
    print("every run gave the same scores as local grading")
    if worker_cost is None:
        return 0
    threads = math.ceil(TARGET_SUBMISSIONS * worker_cost / TARGET_SECONDS)
    coordinator_cost = sum(cluster_finish) / len(cluster_finish)
    coordinator_median = statistics.median(cluster_finish)
    coordinator_total = TARGET_SUBMISSIONS * coordinator_cost
    old_cost, new_cost = statistics.median(before), statistics.median(after)
    print(
        f"\nmeasured per submission: {worker_cost:.2f} s on a worker (1-worker run); recording "
        f"it on the coordinator {coordinator_cost:.3f} s mean, {coordinator_median:.3f} s median "
        f"({len(cluster_finish)} students of the cluster runs)"
    )
    print(
        f"one student's gradebook write alone (median of {len(after)}): {new_cost * 1000:.1f} ms "
        f"with the gradebook kept open for the run, {old_cost * 1000:.1f} ms opening it for "
        f"each student: {old_cost / new_cost:.1f}x"
    )
    cap = TARGET_SECONDS / coordinator_cost
    print(
        f"10,000 submissions in 15 minutes need {TARGET_SUBMISSIONS} x {worker_cost:.2f} s / "
        f"{TARGET_SECONDS} s = {threads} worker threads (one per core, e.g. "
        f"{math.ceil(threads / 8)} machines of 8 cores), if workers do not slow each other. "
        f"The coordinator records one student at a time while the cluster grades: "
        f"{coordinator_total / 60:.1f} minutes for 10,000, so it "
        + (
            f"does not cap it (it could record {cap:,.0f} in 15 minutes)."
            if coordinator_total <= TARGET_SECONDS
            else f"caps it: {cap:,.0f} in 15 minutes, whatever the cluster's size."
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
