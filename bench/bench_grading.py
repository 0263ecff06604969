"""Grading benchmark: stock serial ``nbgrader autograde`` vs ``tpmlab-grade autograde``.

Usage: ``make bench-grading`` or ``python bench/bench_grading.py [--assignment A]
[--students 60] [--workers N] [--no-stock]``.

Both runs grade the same generated class (see ``tpmlab.grading.demo``) in two copies of the
course, in the same process run, and must give identical scores. Printed: both wall times and
their ratio, the per-submission time of the parallel run split into kernel start-up, the
notebook's own cell time, and the rest (nbgrader conversion, gradebook, process overhead).

The cost of the sandbox (:mod:`tpmlab.grading.sandbox`) is measured in the same run: the class is
graded by ``tpmlab-grade autograde`` twice more, unsandboxed (``--unsafe``) and sandboxed, and the
mean per-submission time of both and their difference are printed, with the start-up time of a
plain and of a sandboxed kernel. The goal is under 0.5 s added per student.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

from tpmlab.grading import notebooks
from tpmlab.grading.autograde import autograde
from tpmlab.grading.demo import make_class, make_course, solution_answers
from tpmlab.grading.report import grades_table


def kernel_start_seconds(repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3")
        times.append(time.perf_counter() - started)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times)


def sandbox_kernel_start_seconds(repeats: int = 3) -> float:
    """Start-up of a kernel in the grading sandbox (bubblewrap + IPC), as the autograder does."""
    from jupyter_client.manager import KernelManager

    from tpmlab.grading import sandbox

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        sandbox.install_kernelspec(Path(tmp) / "jupyter")
        os.environ["JUPYTER_PATH"] = str(Path(tmp) / "jupyter")
        for i in range(repeats):
            ipc = Path(tmp) / f"k{i}"
            ipc.mkdir()
            km = KernelManager(kernel_name=sandbox.KERNEL_NAME, transport="ipc", ip=str(ipc / "k"))
            started = time.perf_counter()
            km.start_kernel()
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=120)
            times.append(time.perf_counter() - started)
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        del os.environ["JUPYTER_PATH"]
    return statistics.median(times)


def grade_copy(tmp: str, name: str, assignment: str, students: int, workers: int, sandbox: str):
    """Grade a fresh copy of the generated class; returns (course, results, wall seconds)."""
    course = make_course(Path(tmp) / name, assignment)
    make_class(course, assignment, students)
    course.ensure_assignment(assignment)
    started = time.perf_counter()
    results = autograde(course, assignment, workers=workers, progress=False, sandbox=sandbox)
    return course, results, time.perf_counter() - started


def cell_seconds(course, assignment: str) -> float:
    """Time the notebook's own cells take (full solution), excluding kernel start-up."""
    total = 0.0
    for path in sorted(course.source_dir(assignment).glob("*.ipynb")):
        source = notebooks.read(path)
        nb = notebooks.substitute(notebooks.release(source), solution_answers(source))
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=300,
            allow_errors=True,
            resources={"metadata": {"path": str(path.parent)}},
        )
        with client.setup_kernel():
            started = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            total += time.perf_counter() - started
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assignment", default="00-warmup")
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-stock", action="store_true", help="skip stock nbgrader autograde")
    args = parser.parse_args()
    from tpmlab.grading import sandbox

    unavailable = sandbox.probe()
    print(
        f"machine: {os.cpu_count()} cores; assignment {args.assignment}; "
        f"{args.students} submissions; {args.workers} workers"
    )

    with tempfile.TemporaryDirectory() as tmp:
        # the answer key is built once per assignment version (like generate_assignment), before
        # any timing; its cost is reported on its own
        from tpmlab.course import EXERCISES
        from tpmlab.grading import keys

        key_seconds = 0.0
        for source in sorted((EXERCISES / args.assignment).glob("*.ipynb")):
            started = time.perf_counter()
            keys.build_key(source)
            key_seconds += time.perf_counter() - started
            keys.load_key(source)
        stock_seconds = None
        if not args.no_stock:
            stock = make_course(Path(tmp) / "stock", args.assignment)
            make_class(stock, args.assignment, args.students)
            stock.ensure_assignment(args.assignment)
            # the baseline is nbgrader as shipped: unsandboxed (the course's config refuses
            # that unless told explicitly)
            os.environ["TPMLAB_GRADE_UNSAFE"] = "1"
            started = time.perf_counter()
            stock.nbgrader("autograde", args.assignment)
            stock_seconds = time.perf_counter() - started
            del os.environ["TPMLAB_GRADE_UNSAFE"]

        ours, results, ours_seconds = grade_copy(
            tmp, "parallel", args.assignment, args.students, args.workers, "off"
        )
        boxed = None
        if unavailable is None:
            boxed = grade_copy(
                tmp, "sandboxed", args.assignment, args.students, args.workers, "required"
            )

        b = grades_table(ours, args.assignment)[["student", "question", "score"]]
        b = b.reset_index(drop=True)
        same = True
        if stock_seconds is not None:
            a = grades_table(stock, args.assignment)[["student", "question", "score"]]
            same = a.reset_index(drop=True).equals(b)
        same_boxed = None
        if boxed is not None:
            c = grades_table(boxed[0], args.assignment)[["student", "question", "score"]]
            same_boxed = c.reset_index(drop=True).equals(b)
        per_submission = statistics.mean(r.seconds for r in results)
        kernel = kernel_start_seconds()
        kernel_boxed = sandbox_kernel_start_seconds() if unavailable is None else None
        cells = cell_seconds(ours, args.assignment)

    print(
        f"answer key build (once per assignment version, not in the times below): "
        f"{key_seconds:.1f} s"
    )
    if stock_seconds is not None:
        print(
            f"stock serial nbgrader autograde: {stock_seconds:8.1f} s "
            f"({stock_seconds / args.students:.2f} s per submission)"
        )
    print(
        f"tpmlab-grade autograde -w {args.workers} --unsafe: {ours_seconds:8.1f} s "
        f"({ours_seconds / args.students:.2f} s per submission, wall)"
    )
    if stock_seconds is not None:
        print(f"speed-up: {stock_seconds / ours_seconds:.2f}x   identical scores: {same}")
    print(
        f"per submission inside a worker: {per_submission:.2f} s = kernel start "
        f"{kernel:.2f} s + notebook cells {cells:.2f} s + other "
        f"{per_submission - kernel - cells:.2f} s (conversion, gradebook, files)"
    )
    if boxed is None:
        print(f"sandbox: not measured ({unavailable})")
    else:
        boxed_per = statistics.mean(r.seconds for r in boxed[1])
        print(
            f"tpmlab-grade autograde -w {args.workers} (sandboxed): {boxed[2]:8.1f} s "
            f"({boxed[2] / args.students:.2f} s per submission, wall)   "
            f"identical scores: {same_boxed}"
        )
        print(
            f"sandbox cost per submission inside a worker: {boxed_per:.2f} s sandboxed vs "
            f"{per_submission:.2f} s unsandboxed = {boxed_per - per_submission:+.2f} s "
            f"(kernel start {kernel_boxed:.2f} s vs {kernel:.2f} s = "
            f"{kernel_boxed - kernel:+.2f} s; goal under +0.50 s)"
        )
    if not same or same_boxed is False:
        print("scores differ between the runs")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
