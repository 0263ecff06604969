"""Grading a class on a Dask distributed cluster: ``tpmlab-grade autograde A --cluster ADDRESS``.

The coordinator (the machine running ``tpmlab-grade``, :func:`grade_on_cluster`) submits one task
per student to the Dask scheduler at ``ADDRESS``. The task, :func:`grade_student`, runs on one of
the cluster's workers and grades that student exactly as a local worker does: it starts the same
long-lived grading process (:class:`tpmlab.grading.workers.Worker`, which runs
:mod:`tpmlab.grading.worker`, nbgrader's autograde converter with the course's
``nbgrader_config.py``), with the student's kernel in the bubblewrap sandbox, against the answer
keys the coordinator built, under the same per-cell and per-student time limits. It returns the
autograded notebooks and the private gradebook of that one student as bytes; only the
coordinator writes the course gradebook (:func:`tpmlab.grading.gradebook.record_grades`, one
transaction per student) and moves the autograded folder into place with its marker, in
:func:`tpmlab.grading.autograde._finish`, as for local grading.

What reaches a worker travels through Dask, as bytes in the tasks: once per run a bundle (the
course's ``nbgrader_config.py``, the assignment's source folder, its answer keys and the
starting gradebook, which is a copy of the course gradebook when that is SQLite, as for local
workers), and with each task one student's submission folder. The bundle is a task of its own,
so the scheduler can compute it again if the worker holding it dies.

Faults:

- a worker that cannot run the sandbox (no bubblewrap, not root), or whose ``tpmlab`` code or
  Orbit dataset differs from the coordinator's (its answer-key fingerprint differs), raises
  :class:`WorkerRefused` before it runs anything of the student; the coordinator sends the
  student again to the workers that have not refused, and when none is left records nothing and
  says why (the student counts as "not graded", exit status 3): never graded unsandboxed;
- a worker that dies mid-student: the scheduler runs the task again on another worker; the
  coordinator receives one result per student, so nothing is recorded twice;
- a worker that joins late gets the tasks still waiting;
- the coordinator killed mid-batch: its tasks are dropped with its connection; running the same
  command again skips the students already recorded (the marker) and grades the rest.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path, PurePosixPath

from tpmlab.errors import TPMLabError

INSTALL_HINT = (
    "Install Dask's distributed package with `pip install 'tpmlab[cluster]'` on this machine "
    "and on every worker machine (the same tpmlab version everywhere)."
)


class ClusterUnavailable(TPMLabError):
    """The cluster cannot be used: Dask is not installed, or its scheduler cannot be reached."""


class WorkerRefused(TPMLabError):
    """A cluster worker that must not grade: it cannot sandbox students' code, or it does not
    have the coordinator's tpmlab code and dataset. Raised before anything of the student runs."""

    def __init__(self, worker: str, problem: str, fix: str | None = None):
        self.worker = worker
        super().__init__(problem, fix)

    def __reduce__(self):  # crosses the cluster pickled: keep the worker's address
        return (type(self), (self.worker, self.problem, self.fix))


# ---- on a cluster worker ------------------------------------------------------------------------
_local = threading.local()  # one grading process per Dask worker thread, as per local thread
_lock = threading.Lock()
_probed: dict[str, str | None] = {}
_prepared: set[str] = set()


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # called outside a Dask worker (tests, debugging)
        return f"process {os.getpid()}"


def _sandbox_reason() -> str | None:
    """Why this machine cannot run sandboxed kernels (None when it can), probed once a process."""
    from tpmlab.grading import sandbox as sb

    with _lock:
        if "reason" not in _probed:
            _probed["reason"] = sb.probe()
        return _probed["reason"]


def _base() -> Path:
    """This worker process's own folder: answer keys, kernelspec, one folder per task."""
    base = Path(tempfile.gettempdir()) / f"tpmlab-cluster-{os.getpid()}"
    (base / "keys").mkdir(parents=True, exist_ok=True)
    return base


def _grading_process(sandboxed: bool):
    """The long-lived grading process of this thread (started again if it died or was killed
    at a time limit), exactly as :func:`tpmlab.grading.autograde.autograde` keeps one per
    local thread."""
    from tpmlab.grading.coursedir import Course
    from tpmlab.grading.workers import Worker

    workers = _local.__dict__.setdefault("workers", {})
    worker = workers.get(sandboxed)
    if worker is not None and worker.alive:
        return worker
    base = _base()
    jupyter_path = None
    if sandboxed:
        from tpmlab.grading import sandbox as sb

        jupyter_path = base / "jupyter"
        sb.install_kernelspec(jupyter_path)
    worker = Worker(Course(base), jupyter_path, {"TPMLAB_ANSWER_KEYS": str(base / "keys")})
    workers[sandboxed] = worker
    atexit.register(worker.close)  # a worker that stops takes its grading process with it
    return worker


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = PurePosixPath(rel)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"refusing to write {rel!r} outside {root}")
        target = root.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _bundle(payload: dict) -> dict:
    """The task that holds what every student's task needs (see the module's docstring)."""
    return payload


def grade_student(bundle: dict, student: str, submission: dict[str, bytes]) -> dict:
    """Grade one student on this Dask worker; returns the autograded folder and the private
    gradebook as bytes. Raises :class:`WorkerRefused` when this worker must not grade."""
    import shutil

    from tpmlab.grading.keys import fingerprint

    address = _worker_address()
    settings = bundle["settings"]
    assignment = bundle["assignment"]
    if settings["sandboxed"]:
        reason = _sandbox_reason()
        if reason:
            from tpmlab.grading.sandbox import INSTALL_HINT as SANDBOX_HINT

            raise WorkerRefused(
                address,
                f"the Dask worker {address} cannot sandbox students' code: {reason}",
                f"On that machine: {SANDBOX_HINT} Or stop its `dask worker`; its students are "
                "sent to the other workers.",
            )
    base = _base()
    task = Path(tempfile.mkdtemp(prefix="task-", dir=base))
    try:
        course_root = task / "course" / "autograder"
        source = task / "course" / "exercises" / assignment
        (course_root / "nbgrader_config.py").parent.mkdir(parents=True)
        (course_root / "nbgrader_config.py").write_bytes(bundle["config"])
        _write_tree(source, bundle["source"])
        for name, key in bundle["keys"].items():
            if fingerprint(source / name) != key["fingerprint"]:
                raise WorkerRefused(
                    address,
                    f"the Dask worker {address} has another tpmlab version or Orbit dataset than "
                    f"the coordinator (the answer key of {name} does not match it there)",
                    "Install the same tpmlab (and build the same dataset with `make data`) on "
                    "every worker machine as on the machine running tpmlab-grade.",
                )
            stem = Path(name).stem
            (base / "keys" / f"{stem}-{key['fingerprint'][:24]}.json").write_text(json.dumps(key))
        _write_tree(course_root / "submitted" / student / assignment, submission)
        private_db = task / "gradebook.db"
        private_db.write_bytes(bundle["gradebook"])
        out_root = task / "out"
        sandboxed = settings["sandboxed"]
        if sandboxed:
            from tpmlab.grading import sandbox as sb

            digest = bundle["source_hash"]
            with _lock:
                if digest not in _prepared:
                    sb.prepare_data(source)  # the re-seeded data the hidden tests open
                    _prepared.add(digest)
        worker = _grading_process(sandboxed)
        started = time.monotonic()
        answer, timed_out = worker.run(
            {
                "course_root": str(course_root),
                "assignment": assignment,
                "student": student,
                "private_db": str(private_db),
                "out_root": str(out_root),
                "cell_timeout": settings["cell_timeout"],
                "sandbox": sandboxed,
                "source_dir": str(source),
                "limits": settings["limits"],
            },
            timeout=settings["student_timeout"],
        )
        seconds = time.monotonic() - started
        produced = out_root / student / assignment
        return {
            "ok": bool(answer.get("ok")),
            "log": answer.get("log", ""),
            "timed_out": timed_out,
            "seconds": seconds,
            "produced": produced.is_dir(),
            "files": _read_tree(produced) if produced.is_dir() else {},
            "gradebook": private_db.read_bytes(),
            "graded_by": address,
        }
    finally:
        shutil.rmtree(task, ignore_errors=True)


# ---- on the coordinator -------------------------------------------------------------------------
def connect(address: str, timeout: float = 30):
    """A ``distributed.Client`` on the scheduler at ``address``, or :class:`ClusterUnavailable`
    saying what to do."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterUnavailable(
            "Grading on a cluster needs Dask's distributed package, which is not installed.",
            INSTALL_HINT,
        ) from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterUnavailable(
            f"Cannot reach the Dask scheduler at {address}: {exc}",
            "Start one with `dask scheduler` and give its address (tcp://HOST:8786) to "
            "--cluster; check that this machine can reach that host and port.",
        ) from None


def _payload(course, assignment: str, snapshot: Path, settings: dict) -> dict:
    from tpmlab.grading.keys import load_key

    source = course.source_dir(assignment)
    return {
        "assignment": assignment,
        "config": (course.root / "nbgrader_config.py").read_bytes(),
        "source": _read_tree(source),
        "source_hash": course.source_hash(assignment),
        # built by autograde() before any student is graded, in this trusted process
        "keys": {
            name: load_key(source / name, build=False)
            for name in course.source_notebooks(assignment)
        },
        "gradebook": snapshot.read_bytes(),
        "settings": settings,
    }


def _not_graded(student: str, reason: str):
    from tpmlab.grading.results import StudentResult

    return StudentResult(student, "failed", flags=["not graded"], reason=reason, recorded=False)


def grade_on_cluster(
    address: str,
    course,
    assignment: str,
    students: list[str],
    *,
    snapshot: Path,
    work: Path,
    cell_timeout: int,
    student_timeout: int,
    sandboxed: bool,
    limits: dict,
    log=None,
):
    """Grade ``students`` on the cluster at ``address``; yields, as each finishes, either the
    keyword arguments of :func:`tpmlab.grading.autograde._finish` (the worker's outputs written
    under ``work``, as a local worker leaves them) or, for a student no worker could grade, a
    :class:`~tpmlab.grading.results.StudentResult` with nothing recorded. ``log`` receives
    one line per event worth telling the instructor (default: standard error)."""
    from distributed import as_completed

    def say(line: str) -> None:
        (log or (lambda text: print(text, file=sys.stderr)))(line)

    client = connect(address)
    try:
        if not client.scheduler_info().get("workers"):
            say(f"waiting for Dask workers to join {address} (start them with `dask worker`)")
        settings = {
            "cell_timeout": cell_timeout,
            "student_timeout": student_timeout,
            "sandboxed": sandboxed,
            "limits": limits,
        }
        run = uuid.uuid4().hex[:12]
        bundle = client.submit(
            _bundle, _payload(course, assignment, snapshot, settings), key=f"tpmlab-bundle-{run}"
        )
        refused: dict[str, str] = {}  # worker -> why
        owner: dict[str, str] = {}  # task key -> student

        def submit(student: str, workers=None):
            src = course.submitted_dir(student, assignment)
            future = client.submit(
                grade_student,
                bundle,
                student,
                _read_tree(src),
                key=f"tpmlab-grade-{student}-{uuid.uuid4().hex[:8]}",
                workers=workers,
                allow_other_workers=False,
            )
            owner[future.key] = student
            return future

        pending = as_completed([submit(s) for s in students], loop=client.loop)
        for future in pending:
            student = owner.pop(future.key)
            if future.status != "finished":
                exc = future.exception()
                if isinstance(exc, WorkerRefused):
                    if exc.worker not in refused:
                        say(f"refused: {exc}")
                    refused[exc.worker] = exc.problem
                    others = [w for w in client.scheduler_info()["workers"] if w not in refused]
                    if others:
                        pending.add(submit(student, workers=others))
                        continue
                    yield _not_graded(
                        student,
                        "no Dask worker could grade it: " + "; ".join(refused.values()) + ". "
                        "Start workers that can sandbox, then run the same command again.",
                    )
                else:
                    yield _not_graded(
                        student,
                        f"the cluster could not grade it ({type(exc).__name__}: {exc}); run the "
                        "same command again",
                    )
                continue
            answer = future.result()
            future.release()
            private_db = work / f"{student}.db"
            private_db.write_bytes(answer["gradebook"])
            out_root = work / f"out-{student}"
            if answer["produced"]:
                produced = out_root / student / assignment
                produced.mkdir(parents=True)
                _write_tree(produced, answer["files"])
            yield {
                "student": student,
                "private_db": private_db,
                "out_root": out_root,
                "code": 0 if answer["ok"] else 1,
                "log": answer["log"],
                "timed_out": answer["timed_out"],
                "seconds": answer["seconds"],
                "graded_by": answer["graded_by"],
            }
    finally:
        with contextlib.suppress(Exception):
            client.close()
