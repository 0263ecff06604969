"""Cluster grading benchmark: ``tpmlab-grade autograde --cluster`` with 1, 2 and 4 Dask workers
next to local grading, on this machine, in one run. Run on demand, never in CI.

Usage: ``python bench/bench_cluster.py [--assignment 00-warmup] [--students 12]
[--local-workers N] [--sizes 1,2,4]`` (needs the cluster extra, bubblewrap and root).

The same generated class (``tpmlab.grading.demo.make_class``) is graded in fresh copies of the
course: once by local workers, then on a local Dask cluster (``dask scheduler`` and N ``dask
worker --nthreads 1`` processes on localhost, started here) for each size; every run must give
the local run's statuses, scores and flags. Printed: each run's wall time, throughput
(submissions per minute) and its ratio to local grading; the coordinator's cost per student,
measured in the same run by wrapping its steps (:class:`Coordinator`): submitting each task,
receiving each result, and ``_finish`` split into each call (review, collect, scoring and sandbox
flags, hand-graded answers, the gradebook write, the submission hash, the rest), beside the same
steps in the local run, where the coordinating process still does all of them (as the
coordinator of a cluster did before the workers computed the checks); the coordinator process's
CPU time per student; the gradebook write alone with the course gradebook opened once for the
run and for each student (``record_grades`` without ``book``); the per-submission cost on a
worker (the median time of a whole task in the 1-worker run); and the estimate: the cluster size
needed for 10,000 submissions in 15 minutes, the larger of the workers needed (one grading thread
per core, workers that do not slow each other: on this machine they share its cores, the 2- and
4-worker rows show how far that holds here) and the coordinator's bound (it records one student
at a time while the cluster grades, so it keeps up with at most worker cost / coordinator cost
threads, and 10,000 x its cost must fit in 15 minutes).
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


class Coordinator:
    """Times what the coordinator does per student during the cluster runs, by wrapping its
    steps: ``_finish`` and each call inside it (:data:`STEPS`), the time ``grade_on_cluster``
    spends between two students other than waiting for the next result (receiving: writing
    the worker's outputs to disk), and submitting every student's task. Each wrapper adds
    its wall time to ``times[label]``; ``on`` turns the timing on (off during local grading)."""

    # each step where _finish looks it up (tpmlab.grading.checks computes the checks; before it,
    # _finish called them from tpmlab.grading.autograde): every name that exists is timed
    STEPS = (
        ("review flags", ("checks", "review_submission"), ("autograde", "review_submission")),
        ("collect flags", ("autograde", "collect_flags")),
        ("scoring flags", ("judge", "scoring_flags")),
        ("runtime flags", ("sandbox", "runtime_flags")),
        (
            "hand-graded answers",
            ("checks", "hand_graded_answers"),
            ("autograde", "hand_graded_answers"),
        ),
        ("gradebook write", ("autograde", "record_grades")),
        ("submission hash", ("checks", "submission_hash"), ("autograde", "submission_hash")),
    )

    def __init__(self):
        import importlib

        import distributed

        from tpmlab.grading import cluster as cluster_module

        self.on = False
        self.mode = "cluster"
        self.times: dict[str, list[float]] = {}
        self.local: dict[str, list[float]] = {}  # the same steps during local grading
        # the coordinator's CPU seconds (all threads) per run, from the last task submitted on
        self.cpu: list[float] = []
        self.task: list[float] = []  # each student's time on a worker, in the 1-worker run
        for label, *places in self.STEPS:
            for module, name in places:
                try:
                    mod = importlib.import_module(f"tpmlab.grading.{module}")
                except ImportError:
                    continue
                if hasattr(mod, name):
                    setattr(mod, name, self._timed(label, getattr(mod, name)))
        autograde_module._finish = self._timed("finish", autograde_module._finish)
        waited: list[float] = []
        self._waited = waited
        bench = self

        class TimedAsCompleted(distributed.as_completed):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                bench._mark("submitted")
                bench._cpu = time.process_time()

            def __next__(self):
                started = time.perf_counter()
                try:
                    future, answer = super().__next__()
                finally:
                    waited.append(time.perf_counter() - started)
                if bench.on and isinstance(answer, dict) and "seconds" in answer:
                    # the whole task on the worker; nbgrader's part alone where not reported
                    bench.task.append(answer.get("task_seconds", answer["seconds"]))
                return future, answer

        distributed.as_completed = TimedAsCompleted
        payload = cluster_module._payload

        def timed_payload(*args, **kwargs):
            try:
                return payload(*args, **kwargs)
            finally:
                self._mark("payload")

        cluster_module._payload = timed_payload
        grade_on_cluster = cluster_module.grade_on_cluster

        def timed_grade_on_cluster(*args, **kwargs):
            generator = grade_on_cluster(*args, **kwargs)
            while True:
                waited.clear()
                started = time.perf_counter()
                try:
                    outcome = next(generator)
                except StopIteration:
                    break
                finally:
                    if self.on and "submitted" in self._marks:
                        started = max(started, self._marks["submitted"])
                        self._add("receiving", time.perf_counter() - started - sum(waited))
                if self.on and "submitting" not in self._marks:
                    self._marks["submitting"] = 1
                    self._add("submitting", self._marks["submitted"] - self._marks["payload"])
                yield outcome
            if self.on:
                self.cpu.append(time.process_time() - self._cpu)

        cluster_module.grade_on_cluster = timed_grade_on_cluster
        self._marks: dict[str, float] = {}

    def start(self, mode: str = "cluster") -> None:
        self.on = True
        self.mode = mode
        self._marks = {}

    def stop(self) -> None:
        self.on = False

    def _mark(self, name: str) -> None:
        self._marks.setdefault(name, time.perf_counter())

    def _add(self, label: str, seconds: float) -> None:
        times = self.times if self.mode == "cluster" else self.local
        times.setdefault(label, []).append(seconds)

    def _timed(self, label: str, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if self.on:
                    self._add(label, time.perf_counter() - started)

        return timed

    def per_student(self, students: int, mode: str = "cluster") -> dict[str, float]:
        """label -> mean seconds per student over the runs of ``mode`` (``students`` in all)."""
        times = self.times if mode == "cluster" else self.local
        return {label: sum(t) / students for label, t in times.items()}


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
    coordinator = Coordinator()
    rows = []
    worker_costs: list[float] = []
    nbgrader_cost = None
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        # the answer key is built (and cached) before any timing, as in bench_grading.py
        from tpmlab.course import EXERCISES
        from tpmlab.grading import keys

        for source in sorted((EXERCISES / args.assignment).glob("*.ipynb")):
            keys.load_key(source)
        coordinator.start("local")
        local, seconds, local_course = grade(
            tmp, "local", args.assignment, args.students, workers=args.local_workers
        )
        coordinator.stop()
        expected = {r.student: (r.status, r.score, r.flags) for r in local}
        rows.append((f"local ({args.local_workers} worker processes)", seconds, None))
        graded = 0
        for n in sizes:
            cluster = Cluster(n, tmp)
            try:
                coordinator.start()
                coordinator.task.clear()
                results, seconds, _ = grade(
                    tmp, f"cluster-{n}", args.assignment, args.students, cluster=cluster.address
                )
                coordinator.stop()
                graded += len(results)
            finally:
                cluster.close()
            got = {r.student: (r.status, r.score, r.flags) for r in results}
            if got != expected:
                print(f"cluster of {n} graded otherwise than local grading: {got} != {expected}")
                return 1
            if n == 1:
                worker_costs = list(coordinator.task)
                nbgrader_cost = sum(r.seconds for r in results) / len(results)
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
    graded_ok = sum(r.status == "graded" for r in local)
    print(
        f"every run gave the same statuses, scores and flags as local grading ({graded_ok} of "
        f"{len(local)} graded, {sum(bool(r.flags) for r in local)} flagged)"
    )
    if not worker_costs or not graded:
        return 0
    split = coordinator.per_student(graded)
    local_split = coordinator.per_student(len(local), "local")
    finish = split.pop("finish", 0.0)
    receiving, submitting = split.get("receiving", 0.0), split.get("submitting", 0.0)
    per_student = submitting + receiving + finish
    print(
        f"\nthe coordinator's cost per student, wall time (mean over the {graded} students of "
        f"the cluster runs); beside it the same steps in the local run, where the coordinating "
        f"process does all of _finish as the coordinator of a cluster did before the checks "
        f"moved to the workers ({len(local)} students):"
    )
    print(f"  {'step':<50} {'cluster':>9} {'local':>9}")

    def row(label: str, cluster_s: float, local_s: float | None, indent: int = 2) -> None:
        there = "" if local_s is None else f"{local_s * 1000:6.1f} ms"
        print(f"{' ' * indent}{label:<{52 - indent}} {cluster_s * 1000:6.1f} ms {there:>9}")

    row("submitting (read the submission, client.submit)", submitting, None)
    row("receiving (the worker outputs written to disk)", receiving, None)
    row("_finish", finish, local_split.get("finish", 0.0))
    parts = 0.0
    local_parts = 0.0
    for label, *_ in Coordinator.STEPS:
        row(label, split.get(label, 0.0), local_split.get(label, 0.0), indent=4)
        parts += split.get(label, 0.0)
        local_parts += local_split.get(label, 0.0)
    row(
        "the rest (autograded folder, marker, timestamp)",
        finish - parts,
        local_split.get("finish", 0.0) - local_parts,
        indent=4,
    )
    row("total", per_student, None)
    cpu = sum(coordinator.cpu) / graded
    print(
        f"  the coordinator process's CPU time (every thread, Dask's too) from the last task "
        f"submitted to the last student recorded: {cpu * 1000:.1f} ms per student"
    )
    old_cost, new_cost = statistics.median(before), statistics.median(after)
    print(
        f"one student's gradebook write alone (median of {len(after)}): {new_cost * 1000:.1f} ms "
        f"with the gradebook kept open for the run, {old_cost * 1000:.1f} ms opening it for "
        f"each student: {old_cost / new_cost:.1f}x"
    )
    # steady state: the median task (the first of each thread also starts its grading process)
    worker_cost = statistics.median(worker_costs)
    threads = math.ceil(TARGET_SUBMISSIONS * worker_cost / TARGET_SECONDS)
    coordinator_cost = max(per_student, submitting + cpu)
    coordinator_total = TARGET_SUBMISSIONS * coordinator_cost
    keeps_up = math.floor(worker_cost / coordinator_cost)
    print(
        f"\nper submission on a worker (1-worker run, the whole task): {worker_cost:.2f} s "
        f"median, {statistics.mean(worker_costs):.2f} s mean (nbgrader's part "
        f"{nbgrader_cost:.2f} s mean); on the coordinator {coordinator_cost * 1000:.1f} ms (the "
        "larger of its wall time and its submitting plus CPU time above)"
    )
    print(
        f"workers needed: {TARGET_SUBMISSIONS:,} x {worker_cost:.2f} s / {TARGET_SECONDS} s = "
        f"{threads} worker threads (one per core, e.g. {math.ceil(threads / 8)} machines of 8 "
        "cores), if workers do not slow each other"
    )
    print(
        f"coordinator bound: {TARGET_SUBMISSIONS:,} x {coordinator_cost * 1000:.1f} ms = "
        f"{coordinator_total / 60:.1f} minutes of coordinator time; it keeps up with "
        f"{worker_cost:.2f} s / {coordinator_cost * 1000:.1f} ms = {keeps_up} worker threads"
    )
    if coordinator_total <= TARGET_SECONDS and threads <= keeps_up:
        print(
            f"estimate: 10,000 submissions in 15 minutes need a cluster of {threads} worker "
            f"threads (max of the coordinator bound and the workers needed: the workers bind)"
        )
    else:
        print(
            f"estimate: 10,000 submissions in 15 minutes cannot be reached: the coordinator "
            f"alone takes {coordinator_total / 60:.1f} minutes, whatever the cluster's size "
            f"(more than {keeps_up} worker threads wait on it)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
