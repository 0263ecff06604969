"""Grading a class on a Dask distributed cluster: ``tpmlab-grade autograde A --cluster ADDRESS``.

The coordinator (the machine running ``tpmlab-grade``, :func:`grade_on_cluster`) submits one task
per student to the Dask scheduler at ``ADDRESS``. The task, :func:`grade_student`, runs on one of
the cluster's workers and grades that student exactly as a local worker does: it starts the same
long-lived grading process (:class:`tpmlab.grading.workers.Worker`, which runs
:mod:`tpmlab.grading.worker`, nbgrader's autograde converter with the course's
``nbgrader_config.py``), with the student's kernel in the bubblewrap sandbox, against the answer
keys the coordinator built, under the same per-cell and per-student time limits. There too it
computes everything about the student that needs no gradebook (:func:`tpmlab.grading.checks.
submission_checks`: the review, scoring and sandbox flags, the submission's hash, the
hand-graded answers) and reads the student's grades from its private gradebook; it returns
those with the autograded notebooks as bytes. The coordinator then only adds collect's flags,
writes the course gradebook (:func:`tpmlab.grading.gradebook.record_grades`, one transaction per
student) and moves the autograded folder into place with its marker, in
:func:`tpmlab.grading.autograde._finish`, as for local grading: its cost per student bounds how
fast any cluster can grade (``bench/bench_cluster.py`` measures it).

What reaches a worker: once per run a bundle (the course's ``nbgrader_config.py``, the
assignment's source folder, its answer keys and the starting gradebook, which is a copy of the
course gradebook when that is SQLite, as for local workers), and for each task one student's
submission folder. Two ways:

- through Dask (the default), as bytes in the tasks. The bundle is a task of its own, so the
  scheduler can compute it again if the worker holding it dies;
- through a shared folder the instructor names (``--shared-folder PATH``, mounted at the same
  path on the coordinator and every worker: NFS, a cluster file system). The coordinator writes
  the bundle and the submissions once, into a run folder of its own there (``tpmlab-run-*``,
  mode 0700, removed when the run ends), and the tasks carry only their paths; each worker
  reads the bundle once per run and a student's submission with the student's task. A worker
  on which the folder is missing refuses, like one without the sandbox. A shared folder that
  a sandboxed kernel could see (below a path the sandbox mounts, :func:`tpmlab.grading.sandbox.
  jail.seen_through`) is refused by the coordinator and by every worker.

Either way the results (the autograded notebooks, the grades and the checks) come back through
Dask, and only the coordinator writes the course gradebook.

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
import shutil
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


_from_folder: dict[str, dict] = {}  # the last bundle this process read from a shared folder


def _shared_refusal(address: str, folder: Path) -> WorkerRefused | None:
    """Why this worker must not grade from the shared ``folder`` (None when it may)."""
    from tpmlab.grading.sandbox.jail import seen_through

    if not folder.is_dir():
        return WorkerRefused(
            address,
            f"the shared folder {folder} is not on the Dask worker {address}",
            "Mount the shared folder at the same path on every worker machine as on the "
            "coordinator, or grade without --shared-folder (everything then travels through "
            "Dask).",
        )
    mounted = seen_through(folder)
    if mounted is not None:
        return WorkerRefused(
            address,
            f"on the Dask worker {address} the sandbox could see the shared folder {folder} "
            f"(it mounts {mounted})",
            SHARED_OUTSIDE_HINT,
        )
    return None


def _resolve_bundle(bundle: dict, address: str) -> dict:
    """The bundle with its files: as sent, or read from the shared folder it names (once per
    process and run)."""
    if "folder" not in bundle:
        return bundle
    folder = Path(bundle["folder"])
    refusal = _shared_refusal(address, folder)
    if refusal is not None:
        raise refusal
    with _lock:
        cached = _from_folder.get(str(folder))
        if cached is None:
            keys = {
                p.name: json.loads(p.read_text()) for p in sorted((folder / "keys").glob("*.json"))
            }
            cached = {
                **bundle,
                "config": (folder / "nbgrader_config.py").read_bytes(),
                "source": _read_tree(folder / "source"),
                "keys": keys,
                "gradebook": (folder / "gradebook.db").read_bytes(),
            }
            _from_folder.clear()
            _from_folder[str(folder)] = cached
        return cached


def _write_shared(run_dir: Path, payload: dict) -> None:
    """The bundle's files in the run's shared folder, readable by their owner only."""
    folder = run_dir / "bundle"
    folder.mkdir(mode=0o700, parents=True)
    (folder / "nbgrader_config.py").write_bytes(payload["config"])
    _write_tree(folder / "source", payload["source"])
    (folder / "keys").mkdir(mode=0o700)
    for file, key in payload["keys"].items():
        (folder / "keys" / file).write_text(json.dumps(key))
    (folder / "gradebook.db").write_bytes(payload["gradebook"])


def grade_student(bundle: dict, student: str, submission: dict[str, bytes] | str) -> dict:
    """Grade one student on this Dask worker; returns the autograded folder as bytes, the
    grades read from the private gradebook and the student's checks (see :func:`_checked`).
    ``submission`` is the student's folder as bytes, or its path in the shared folder. Raises
    :class:`WorkerRefused` when this worker must not grade."""
    from tpmlab.grading.keys import fingerprint

    task_started = time.monotonic()
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
    bundle = _resolve_bundle(bundle, address)
    if isinstance(submission, str):  # a path in the shared folder
        submission = _read_tree(Path(submission))
    base = _base()
    task = Path(tempfile.mkdtemp(prefix="task-", dir=base))
    try:
        course_root = task / "course" / "autograder"
        source = task / "course" / "exercises" / assignment
        (course_root / "nbgrader_config.py").parent.mkdir(parents=True)
        (course_root / "nbgrader_config.py").write_bytes(bundle["config"])
        _write_tree(source, bundle["source"])
        for file, key in bundle["keys"].items():
            name = key["notebook"]
            if fingerprint(source / name, key.get("variant")) != key["fingerprint"]:
                raise WorkerRefused(
                    address,
                    f"the Dask worker {address} has another tpmlab version or Orbit dataset than "
                    f"the coordinator (the answer key of {name} does not match it there)",
                    "Install the same tpmlab (and build the same dataset with `make data`) on "
                    "every worker machine as on the machine running tpmlab-grade.",
                )
            (base / "keys" / Path(file).name).write_text(json.dumps(key))
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
        result = {
            "ok": bool(answer.get("ok")),
            "log": answer.get("log", ""),
            "timed_out": timed_out,
            "seconds": seconds,
            "produced": produced.is_dir(),
            "files": _read_tree(produced) if produced.is_dir() else {},
            "graded_by": address,
        }
        result.update(
            _checked(result, course_root, assignment, student, produced, private_db, sandboxed)
        )
        result["task_seconds"] = time.monotonic() - task_started
        return result
    finally:
        shutil.rmtree(task, ignore_errors=True)


def _checked(
    result: dict,
    course_root: Path,
    assignment: str,
    student: str,
    produced: Path,
    private_db: Path,
    sandboxed: bool,
) -> dict:
    """What the coordinator would otherwise compute for this student before recording it, here
    on the worker that has the files: ``checks`` (:func:`tpmlab.grading.checks.
    submission_checks` of the submission and of the autograded folder whose files ``result``
    sends, as :func:`tpmlab.grading.autograde._finish` computes them for local grading) and
    ``grades`` (:func:`tpmlab.grading.gradebook.private_grades` of the private gradebook, sent
    instead of the whole database). Where either raises on what the student submitted it is
    left out (``checks`` None; the private gradebook's bytes in ``gradebook``): the coordinator
    then computes it itself from the same files and records the failure as for local grading."""
    from tpmlab.grading.checks import submission_checks
    from tpmlab.grading.coursedir import Course
    from tpmlab.grading.gradebook import private_grades

    submitted = course_root / "submitted" / student / assignment
    # _finish's test of a graded student, on the same facts
    ok = result["ok"] and not result["timed_out"] and result["produced"]
    out: dict = {"checks": None, "grades": None, "gradebook": None}
    with contextlib.suppress(Exception):
        out["checks"] = submission_checks(
            Course(course_root), assignment, submitted, produced, sandboxed=sandboxed, ok=ok
        )
    if ok:
        try:
            out["grades"] = private_grades(private_db, assignment, student)
        except Exception:  # noqa: BLE001 - the coordinator reads it and records the failure
            out["gradebook"] = private_db.read_bytes()
    return out


# ---- on the coordinator -------------------------------------------------------------------------
SHARED_OUTSIDE_HINT = (
    "Name a shared folder outside everything the sandbox mounts (the system's /usr, the Python "
    "installation and virtualenv, the tpmlab package, Orbit's datasets/ folder): for example "
    "/srv/tpmlab-share, mounted at the same path on every machine."
)


def check_shared_folder(folder: str | Path) -> Path:
    """The shared folder as a resolved path, or :class:`ClusterUnavailable` saying what to do
    when it is missing or a sandboxed kernel could see it (checked again on every worker)."""
    from tpmlab.grading.sandbox.jail import seen_through

    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise ClusterUnavailable(
            f"The shared folder {folder} does not exist on this machine.",
            "Create it on the share and mount it at the same path here and on every Dask "
            "worker, or grade without --shared-folder.",
        )
    mounted = seen_through(path)
    if mounted is not None:
        raise ClusterUnavailable(
            f"The shared folder {path} would be visible to the students' sandboxed kernels: "
            f"the sandbox mounts {mounted}.",
            SHARED_OUTSIDE_HINT,
        )
    return path


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


def _payload(course, assignment: str, snapshot: Path, settings: dict, students) -> dict:
    from tpmlab.grading.keys import class_keys

    source = course.source_dir(assignment)
    return {
        "assignment": assignment,
        "config": (course.root / "nbgrader_config.py").read_bytes(),
        "source": _read_tree(source),
        "source_hash": course.source_hash(assignment),
        # built by autograde() before any student is graded, in this trusted process (one per
        # variant the class has, on an assignment with per-learner variants)
        "keys": class_keys(course, assignment, students, build=False),
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
    shared_folder: str | Path | None = None,
    log=None,
):
    """Grade ``students`` on the cluster at ``address``; yields, as each finishes, either the
    keyword arguments of :func:`tpmlab.grading.autograde._finish` (the worker's outputs written
    under ``work``, as a local worker leaves them) or, for a student no worker could grade, a
    :class:`~tpmlab.grading.results.StudentResult` with nothing recorded. ``log`` receives
    one line per event worth telling the instructor (default: standard error). With
    ``shared_folder`` the bundle and the submissions reach the workers through that folder (see
    the module's docstring) instead of inside the tasks."""
    from distributed import as_completed

    def say(line: str) -> None:
        (log or (lambda text: print(text, file=sys.stderr)))(line)

    shared = check_shared_folder(shared_folder) if shared_folder is not None else None
    client = connect(address)
    run_dir = None
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
        payload = _payload(course, assignment, snapshot, settings, students)
        if shared is not None:
            run_dir = shared / f"tpmlab-run-{assignment}-{run}"
            run_dir.mkdir(mode=0o700)
            _write_shared(run_dir, payload)
            payload = {
                "assignment": assignment,
                "source_hash": payload["source_hash"],
                "settings": settings,
                "folder": str(run_dir / "bundle"),
            }
        bundle = client.submit(_bundle, payload, key=f"tpmlab-bundle-{run}")
        refused: dict[str, WorkerRefused] = {}  # worker -> why
        all_refused = False
        owner: dict[str, str] = {}  # task key -> student

        def submit(student: str, workers=None):
            src = course.submitted_dir(student, assignment)
            files = _read_tree(src)
            submission: dict[str, bytes] | str = files
            if run_dir is not None:  # written once, read by whichever worker grades it
                folder = run_dir / "submissions" / student
                if not folder.exists():
                    _write_tree(folder, files)
                submission = str(folder)
            future = client.submit(
                grade_student,
                bundle,
                student,
                submission,
                key=f"tpmlab-grade-{student}-{uuid.uuid4().hex[:8]}",
                workers=workers,
                allow_other_workers=False,
            )
            owner[future.key] = student
            return future

        # with_results: the client's thread fetches each finished student's outputs while this
        # one records the students before it, so the cluster never waits on the recording
        pending = as_completed(
            [submit(s) for s in students], loop=client.loop, with_results=True, raise_errors=False
        )
        for future, answer in pending:
            student = owner.pop(future.key)
            if future.status != "finished":
                exc = future.exception()
                if isinstance(exc, WorkerRefused):
                    if exc.worker not in refused:
                        say(f"refused: {exc}")
                    refused[exc.worker] = exc
                    others = [w for w in client.scheduler_info()["workers"] if w not in refused]
                    if others:
                        pending.add(submit(student, workers=others))
                        continue
                    why = "; ".join(r.problem for r in refused.values())
                    fixes = " ".join(dict.fromkeys(r.fix for r in refused.values() if r.fix))
                    if not all_refused:
                        all_refused = True
                        say(
                            f"EVERY Dask worker of {address} refused to grade ({why}): the "
                            "students left are not graded and nothing is recorded for them. "
                            "What to do: "
                            f"{fixes} Then run the same command again."
                        )
                    yield _not_graded(
                        student,
                        f"no Dask worker could grade it: {why}. What to do: {fixes} Then run "
                        "the same command again.",
                    )
                else:
                    yield _not_graded(
                        student,
                        f"the cluster could not grade it ({type(exc).__name__}: {exc}); run the "
                        "same command again",
                    )
                continue
            future.release()
            # the grades as the worker read them from its private gradebook; the database
            # itself (a copy of the course gradebook) only where that read failed there
            private_db = answer["grades"]
            if private_db is None:
                private_db = work / f"{student}.db"
                if answer["gradebook"] is not None:
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
                "checks": answer["checks"],
            }
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if run_dir is not None:  # the answer keys and submissions leave the share with the run
            shutil.rmtree(run_dir, ignore_errors=True)
