"""Grading benchmark: stock serial ``nbgrader autograde`` vs ``tpmlab-grade autograde``.

Usage: ``make bench-grading`` or ``python bench/bench_grading.py [--assignment A]
[--students 60] [--workers N]``.

Both runs grade the same generated class (see ``tpmlab.grading.demo``) in two copies of the
course, in the same process run, and must give identical scores. Printed: both wall times and
their ratio, the per-submission time of the parallel run split into kernel start-up, the
notebook's own cell time, and the rest (nbgrader conversion, gradebook, process overhead).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
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
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores; assignment {args.assignment}; "
        f"{args.students} submissions; {args.workers} workers"
    )

    with tempfile.TemporaryDirectory() as tmp:
        stock = make_course(Path(tmp) / "stock", args.assignment)
        make_class(stock, args.assignment, args.students)
        stock.ensure_assignment(args.assignment)
        started = time.perf_counter()
        stock.nbgrader("autograde", args.assignment)
        stock_seconds = time.perf_counter() - started

        ours = make_course(Path(tmp) / "parallel", args.assignment)
        make_class(ours, args.assignment, args.students)
        ours.ensure_assignment(args.assignment)
        started = time.perf_counter()
        results = autograde(ours, args.assignment, workers=args.workers, progress=False)
        ours_seconds = time.perf_counter() - started

        a = grades_table(stock, args.assignment)[["student", "question", "score"]]
        b = grades_table(ours, args.assignment)[["student", "question", "score"]]
        same = a.reset_index(drop=True).equals(b.reset_index(drop=True))
        per_submission = statistics.mean(r.seconds for r in results)
        kernel = kernel_start_seconds()
        cells = cell_seconds(ours, args.assignment)

    print(
        f"stock serial nbgrader autograde: {stock_seconds:8.1f} s "
        f"({stock_seconds / args.students:.2f} s per submission)"
    )
    print(
        f"tpmlab-grade autograde -w {args.workers}:   {ours_seconds:8.1f} s "
        f"({ours_seconds / args.students:.2f} s per submission, wall)"
    )
    print(f"speed-up: {stock_seconds / ours_seconds:.2f}x   identical scores: {same}")
    print(
        f"per submission inside a worker: {per_submission:.2f} s = kernel start "
        f"{kernel:.2f} s + notebook cells {cells:.2f} s + other "
        f"{per_submission - kernel - cells:.2f} s (conversion, gradebook, files)"
    )
    if not same:
        diff = pd.concat([a, b]).drop_duplicates(keep=False)
        print("score differences:\n", diff.to_string())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
