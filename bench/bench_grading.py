"""Grading benchmark: stock serial ``nbgrader autograde`` vs ``tpmlab-grade autograde``, sandboxed.

Usage: ``make bench-grading`` (every assignment, a class of 60 each, then the growth from 60 to
240 submissions on the warm-up), or parts of it::

    python bench/bench_grading.py [--assignment A ...] [--students 60] [--workers N]
        [--no-stock] [--no-split] [--growth 60,120,240] [--growth-assignment 00-warmup]
        [--no-growth] [--no-assignments] [--sandbox-cost]

For each assignment, in the same process run and on the same generated class (see
``tpmlab.grading.demo``), in two copies of the course:

- stock serial ``nbgrader autograde`` (nbgrader as shipped: unsandboxed, one process), wall time;
- ``tpmlab-grade autograde`` with the sandbox on (what instructors run), wall time;
- their ratio, and whether both give identical scores (student, question, score);
- peak memory of each run's processes: the sum of the resident set sizes (``VmRSS`` in
  ``/proc``) of this process and all its descendants (coordinator, workers, launchers, bwrap,
  kernels), sampled every 0.2 s, its highest value;
- the split of one submission, measured by grading a few of the class in this process through
  the worker's own function, instrumented: waiting for the kernel to be ready, the notebook's
  cells, and the rest (nbgrader's conversion, gradebook, files). "imports" is measured apart: the
  notebook's import lines run first in a freshly started sandboxed kernel, as the grading kernels
  are started (with the kernel started ahead: after its advance imports);
- the CPU time of the sandbox's own processes (each kernel's launcher and evidence relay, and
  bubblewrap) per submission, sampled with the memory;
- with ``--sandbox-cost``, ``tpmlab-grade autograde --unsafe`` too, and the difference per
  submission (unsafe kernels are plain ipykernel kernels, started on demand and with the
  debugger, so that difference also counts what only sandboxed grading does to start kernels).

The growth part grades 60, 120 and 240 submissions of one assignment with ``tpmlab-grade`` and
prints the wall time per submission at each size (it must stay flat).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from tpmlab.grading.autograde import autograde
from tpmlab.grading.demo import make_class, make_course
from tpmlab.grading.report import grades_table
from tpmlab.paths import REPO_ROOT


class PeakMemory:
    """The highest sum of VmRSS over this process and its descendants, sampled in a thread;
    and the CPU time of the sandbox's own processes among them (:attr:`sandbox_cpu`)."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sandbox: dict[int, float] = {}  # pid -> CPU seconds seen

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            self._stop.wait(self.interval)

    @property
    def sandbox_cpu(self) -> float:
        """CPU seconds (user + system, last sample of each process) of the kernels' launchers,
        their evidence relays and bubblewrap: what the sandbox adds around each kernel."""
        return sum(self._sandbox.values())

    def sample(self) -> int:
        parents, rss = {}, {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            pid = int(entry.name)
            parents[pid] = int(fields.get("PPid", "0").strip() or 0)
            kb = fields.get("VmRSS", "0 kB").strip().split()[0]
            rss[pid] = int(kb) * 1024
        mine = {os.getpid()}
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in mine and pid not in mine:
                    mine.add(pid)
                    grew = True
        for pid in mine - {os.getpid()}:
            self._sample_sandbox(pid)
        return sum(rss.get(pid, 0) for pid in mine)

    def _sample_sandbox(self, pid: int) -> None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            if comm != "bwrap":
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if cmd[1:3] != [b"-m", b"tpmlab.grading.sandbox"]:
                    return
        except (OSError, ValueError):
            return
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        self._sandbox[pid] = max(self._sandbox.get(pid, 0.0), seconds)


def class_copy(tmp: Path, name: str, assignment: str, students: int):
    course = make_course(tmp / name, assignment)
    make_class(course, assignment, students)
    course.ensure_assignment(assignment)
    return course


def stock_run(tmp: Path, assignment: str, students: int):
    course = class_copy(tmp, "stock", assignment, students)
    # nbgrader as shipped: unsandboxed (the course's config refuses that unless told explicitly)
    os.environ["TPMLAB_GRADE_UNSAFE"] = "1"
    try:
        with PeakMemory() as memory:
            started = time.perf_counter()
            course.nbgrader("autograde", assignment)
            seconds = time.perf_counter() - started
    finally:
        del os.environ["TPMLAB_GRADE_UNSAFE"]
    return course, seconds, memory.peak


def ours_run(tmp: Path, name: str, assignment: str, students: int, workers: int, sandbox: str):
    course = class_copy(tmp, name, assignment, students)
    with PeakMemory() as memory:
        started = time.perf_counter()
        results = autograde(course, assignment, workers=workers, progress=False, sandbox=sandbox)
        seconds = time.perf_counter() - started
    failed = [r.student for r in results if r.status != "graded"]
    return course, seconds, memory.peak, results, failed, memory.sandbox_cpu


def scores(course, assignment: str):
    table = grades_table(course, assignment)[["student", "question", "score"]]
    return table.sort_values(["student", "question"]).reset_index(drop=True)


# ---- the split of one submission ----------------------------------------------------------------
def split_per_submission(tmp: Path, assignment: str, count: int = 4) -> dict:
    """Grade ``count`` submissions in this process through the worker's function, with the
    kernel's start, the cells and the whole timed; the first is left out (a fresh worker)."""
    import shutil

    from nbclient import NotebookClient

    from tpmlab.grading import sandbox, worker
    from tpmlab.grading.keys import load_key

    course = class_copy(tmp, "split", assignment, count + 1)
    for name in course.source_notebooks(assignment):
        load_key(course.source_dir(assignment) / name)
    work = Path(tempfile.mkdtemp(dir=tmp))
    snapshot = work / "gradebook.db"
    students = course.submitted_students(assignment)
    course.export_sqlite_snapshot(snapshot, assignment, students)
    sandbox.install_kernelspec(work / "jupyter")
    sandbox.prepare_data(course.source_dir(assignment))
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    os.environ["JUPYTER_PATH"] = str(work / "jupyter")
    os.environ["TPMLAB_SANDBOX_DIR"] = tempfile.mkdtemp(prefix="sb", dir="/tmp")
    timing: dict[str, float] = {}
    originals = {}

    def timed(name: str, key: str):
        original = originals[name] = getattr(NotebookClient, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timing[key] = timing.get(key, 0.0) + time.perf_counter() - started

        setattr(NotebookClient, name, wrapper)

    timed("start_new_kernel", "kernel")
    timed("start_new_kernel_client", "kernel")
    timed("execute_cell", "cells")
    rows = []
    try:
        os.chdir(course.root)
        # as the worker's main() does; undone after the loop: this process goes on to run the
        # coordinator, which opens two gradebooks at once
        with worker.shared_gradebook_engine():
            for student in students:
                private_db = work / f"{student}.db"
                shutil.copy(snapshot, private_db)
                timing.clear()
                started = time.perf_counter()
                answer = worker._grade(
                    {
                        "course_root": str(course.root),
                        "assignment": assignment,
                        "student": student,
                        "private_db": str(private_db),
                        "out_root": str(work / f"out-{student}"),
                        "cell_timeout": 60,
                        "sandbox": True,
                        "source_dir": str(course.source_dir(assignment)),
                        "limits": {"cpu": 300},
                    }
                )
                total = time.perf_counter() - started
                if answer["ok"]:
                    rows.append({"total": total, **timing})
    finally:
        from tpmlab.grading.sandbox import ahead

        ahead.close_all()
        for name, original in originals.items():
            setattr(NotebookClient, name, original)
        os.chdir(saved_cwd)
        sandbox.release_mounts(Path(os.environ["TPMLAB_SANDBOX_DIR"]))
        os.environ.clear()
        os.environ.update(saved_env)
    rows = rows[1:] or rows
    out = {k: statistics.mean(r.get(k, 0.0) for r in rows) for k in ("total", "kernel", "cells")}
    out["other"] = out["total"] - out["kernel"] - out["cells"]
    try:
        out["imports"] = import_seconds(course.source_dir(assignment))
    except Exception as exc:  # noqa: BLE001 - the rest of the figures still stand
        print(f"  imports not measured: {type(exc).__name__}: {exc}")
        out["imports"] = float("nan")
    return out


def import_seconds(source: Path) -> float:
    """The notebook's import lines run first in a fresh sandboxed kernel started as the worker
    starts them (ahead, with its advance imports, unless ``TPMLAB_GRADE_AHEAD=0``)."""
    import re

    from jupyter_client.blocking import BlockingKernelClient

    from tpmlab.grading import sandbox
    from tpmlab.grading.sandbox import ahead

    lines = []
    for nb in sorted(source.glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                text = "".join(cell["source"])
                lines += re.findall(r"^(?:import|from) [\w.]+(?: import [\w, ]+)?$", text, re.M)
    code = "\n".join(dict.fromkeys(lines))
    preload = ahead.preload_modules(source) if os.environ.get("TPMLAB_GRADE_AHEAD") != "0" else []
    with tempfile.TemporaryDirectory(prefix="sbi", dir="/tmp") as tmp:
        sandbox.install_kernelspec(Path(tmp) / "jupyter")
        saved = dict(os.environ)
        os.environ["JUPYTER_PATH"] = str(Path(tmp) / "jupyter")
        os.environ["TPMLAB_SANDBOX_DIR"] = tmp
        settings = ahead.Settings(str(source), json.dumps({"cpu": 300}), ",".join(preload))
        kernel = ahead.AheadKernel(settings, Path(tmp))
        try:
            client = BlockingKernelClient(parent=kernel.km)
            client.load_connection_info(kernel.km.get_connection_info())
            client.start_channels()
            client.wait_for_ready(timeout=120)
            started = time.perf_counter()
            client.execute_interactive(code, timeout=120, store_history=False)
            seconds = time.perf_counter() - started
            client.stop_channels()
        finally:
            kernel.close()
            os.environ.clear()
            os.environ.update(saved)
    return seconds


# ---- the parts -----------------------------------------------------------------------------------
def bench_assignment(args, assignment: str, table: list[dict]) -> bool:
    mib = 2**20
    with tempfile.TemporaryDirectory(prefix="bench-", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        from tpmlab.grading import keys

        for source in sorted((REPO_ROOT / "exercises" / assignment).glob("*.ipynb")):
            keys.load_key(source)  # built once per assignment version, before any timing
        stock = None
        if not args.no_stock:
            stock = stock_run(tmp, assignment, args.students)
        ours = ours_run(tmp, "ours", assignment, args.students, args.workers, "required")
        unsafe = None
        if args.sandbox_cost:
            unsafe = ours_run(tmp, "unsafe", assignment, args.students, args.workers, "off")
        split = None if args.no_split else split_per_submission(tmp, assignment)
        same = (
            None
            if stock is None
            else scores(stock[0], assignment).equals(scores(ours[0], assignment))
        )
    n = args.students
    print(f"== {assignment}: {n} submissions, {args.workers} workers, sandbox on")
    if stock is not None:
        print(
            f"  stock serial nbgrader:   {stock[1]:7.1f} s ({stock[1] / n:5.2f} s/submission)"
            f"  peak RSS {stock[2] / mib:6.0f} MiB"
        )
    print(
        f"  tpmlab-grade autograde:  {ours[1]:7.1f} s ({ours[1] / n:5.2f} s/submission)"
        f"  peak RSS {ours[2] / mib:6.0f} MiB  (coordinator + workers + kernels)"
    )
    if ours[4]:
        print(f"  not graded by tpmlab-grade: {ours[4]}")
    print(
        f"  sandbox processes (launchers, evidence relays, bubblewrap): {ours[5] / n:.3f} CPU s"
        " per submission"
    )
    if stock is not None:
        print(f"  ratio: {stock[1] / ours[1]:.2f}x   identical scores: {same}")
    if unsafe is not None:
        cost = (ours[1] - unsafe[1]) / n * args.workers
        print(
            f"  tpmlab-grade --unsafe:   {unsafe[1]:7.1f} s; difference {cost:+.2f} s per "
            "submission per worker (unsafe kernels are plain ipykernel: started on demand, "
            "with the debugger)"
        )
    if split is not None:
        print(
            f"  one submission in a worker: {split['total']:.2f} s = kernel start "
            f"{split['kernel']:.2f} + cells {split['cells']:.2f} + other {split['other']:.2f}"
            f" (imports in a fresh kernel: {split['imports']:.2f} s)"
        )
    sys.stdout.flush()
    table.append(
        {
            "assignment": assignment,
            "stock": None if stock is None else stock[1] / n,
            "ours": ours[1] / n,
            "ratio": None if stock is None else stock[1] / ours[1],
            "split": split,
            "peak": ours[2] / mib,
            "same": same,
            "sandbox": ours[5] / n,
        }
    )
    return same is not False and not ours[4]


def print_table(table: list[dict], students: int, workers: int) -> None:
    """The figures of every assignment in one table (seconds per submission)."""
    print(
        f"\n== every assignment: {students} submissions each, {workers} workers, sandbox on;"
        " seconds per submission"
    )
    head = (
        "| assignment | stock nbgrader | tpmlab-grade | ratio | kernel start | imports (in cells) "
        "| cells | other | peak RSS MiB | identical scores | sandbox CPU s |"
    )
    print(head)
    print("|" + "---|" * head.count(" | ") + "---|")

    def f(value, fmt):
        return "-" if value is None or value != value else format(value, fmt)

    for r in table:
        split = r["split"] or {}
        cells = [
            r["assignment"],
            f(r["stock"], ".2f"),
            f(r["ours"], ".2f"),
            f(r["ratio"], ".2f") + ("x" if r["ratio"] is not None else ""),
            f(split.get("kernel"), ".2f"),
            f(split.get("imports"), ".2f"),
            f(split.get("cells"), ".2f"),
            f(split.get("other"), ".2f"),
            f(r["peak"], ".0f"),
            "-" if r["same"] is None else str(r["same"]),
            f(r["sandbox"], ".3f"),
        ]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


def bench_growth(args) -> bool:
    sizes = [int(s) for s in args.growth.split(",")]
    per = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-", dir="/tmp") as tmp:
            _, seconds, peak, _, failed, _ = ours_run(
                Path(tmp), "growth", args.growth_assignment, size, args.workers, "required"
            )
        per.append(seconds / size)
        print(
            f"== growth {args.growth_assignment}: {size:4d} submissions {seconds:7.1f} s = "
            f"{seconds / size:5.2f} s/submission, peak RSS {peak / 2**20:6.0f} MiB"
            + (f", not graded: {len(failed)}" if failed else "")
        )
        sys.stdout.flush()
    print(f"  per-submission time, largest / smallest class: {per[-1] / per[0]:.2f}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignment", action="append", help="only this one (repeatable)")
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-stock", action="store_true", help="skip stock nbgrader autograde")
    parser.add_argument("--no-split", action="store_true", help="skip the per-submission split")
    parser.add_argument("--sandbox-cost", action="store_true", help="also grade --unsafe")
    parser.add_argument("--no-assignments", action="store_true", help="only the growth part")
    parser.add_argument("--growth", default="60,120,240", help="class sizes of the growth part")
    parser.add_argument("--growth-assignment", default="00-warmup")
    parser.add_argument("--no-growth", action="store_true")
    args = parser.parse_args()
    from tpmlab.grading import sandbox

    reason = sandbox.probe()
    if reason:
        print(f"The benchmark grades sandboxed, and the sandbox cannot run here: {reason}")
        print(sandbox.INSTALL_HINT)
        return 2
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f};"
        f" kernel started ahead: {os.environ.get('TPMLAB_GRADE_AHEAD', '1') != '0'}"
    )
    ok = True
    if not args.no_assignments:
        names = args.assignment or sorted(p.name for p in (REPO_ROOT / "exercises").iterdir())
        table: list[dict] = []
        for name in names:
            ok &= bench_assignment(args, name, table)
        print_table(table, args.students, args.workers)
    if not args.no_growth:
        ok &= bench_growth(args)
    if not ok:
        print("scores differ between the runs, or some submission was not graded")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
