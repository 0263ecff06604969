"""Parallel, idempotent autograding on top of ``nbgrader autograde``.

Each student is graded by nbgrader itself, in a worker process of its own, against a private
copy of the gradebook and into a private output folder. Only the coordinating process writes the
course gradebook, one student at a time, in a single transaction
(:func:`tpmlab.grading.gradebook.record_grades`); then the student's autograded folder is moved
into place together with a marker recording what was graded. Consequences:

- the SQLite gradebook never sees two writers (safe under any ``--workers``), and PostgreSQL works
  the same way through nbgrader's ``db_url``;
- a grader killed mid-batch leaves no half-written student: re-running grades what is missing
  and skips what is done (the marker holds a hash of the submission, so a changed submission is
  graded again);
- one broken, slow or hostile submission gets a recorded result (0 on its autograded items, a
  review flag with the reason) and never stops the batch;
- each student's kernel runs in a bubblewrap sandbox (:mod:`tpmlab.grading.sandbox`): no
  network, no view of the course, gradebook or other students, resource limits. ``sandbox=
  "required"`` (what ``tpmlab-grade autograde`` uses) refuses to grade where the sandbox cannot
  run; ``"auto"`` (the default of this function) falls back to unsandboxed kernels with a
  warning; ``"off"`` (``--unsafe``) does not use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from tpmlab.grading.checks import submission_checks, submission_hash
from tpmlab.grading.collect import MAX_FILE_BYTES, collect_flags, not_collected_reason
from tpmlab.grading.coursedir import Course
from tpmlab.grading.gradebook import CourseGradebook, hand_graded_answers, record_grades
from tpmlab.grading.late import record_deadline
from tpmlab.grading.results import StudentResult, progress_bar
from tpmlab.grading.workers import Worker, close_all

MARKER = ".tpmlab-graded.json"


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def autograde(
    course: Course,
    assignment: str,
    *,
    workers: int | None = None,
    cell_timeout: int = 60,
    student_timeout: int = 300,
    students: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    sandbox: str = "auto",
    limits: dict | None = None,
    cluster: str | None = None,
    shared_folder: str | Path | None = None,
) -> list[StudentResult]:
    """Autograde every submission of ``assignment`` (or the named ``students``) in parallel.

    ``sandbox``: "required" (refuse with :class:`~tpmlab.grading.sandbox.SandboxUnavailable`
    where sandboxed kernels cannot run), "auto" (sandbox when possible, else warn and grade
    unsandboxed) or "off" (what ``tpmlab-grade autograde --unsafe`` asks for). ``limits``
    overrides the sandbox's resource limits (see :data:`tpmlab.grading.sandbox.LIMITS`).

    ``cluster``: the address of a Dask scheduler (``tcp://HOST:PORT``); each student is then
    graded on one of its workers (:mod:`tpmlab.grading.cluster`) instead of a local worker
    process, and ``workers`` is not used. Each cluster worker checks its own sandbox: any
    ``sandbox`` but "off" means "required" there (a worker never falls back to unsandboxed).
    ``shared_folder``: with ``cluster``, the folder (mounted at the same path on every worker)
    through which the answer keys and submissions reach the workers instead of through Dask.
    """
    from tpmlab.grading import sandbox as sb

    workers = workers or os.cpu_count() or 1
    if sandbox not in ("required", "auto", "off"):
        raise ValueError(f"sandbox must be 'required', 'auto' or 'off', not {sandbox!r}")
    sandboxed = False
    if shared_folder is not None:
        if not cluster:
            raise ValueError("shared_folder is for grading on a cluster: give cluster too")
        from tpmlab.grading.cluster import check_shared_folder

        shared_folder = check_shared_folder(shared_folder)  # before any work: say it now
    if cluster:
        # the students' code runs on the cluster's workers, which check their own sandbox
        sandboxed = sandbox != "off"
    elif sandbox != "off":
        reason = sb.probe()
        if reason and sandbox == "required":
            sb.require()  # raises, saying how to install bubblewrap
        elif reason:
            warnings.warn(
                f"Grading WITHOUT a sandbox: {reason} {sb.INSTALL_HINT}", UserWarning, stacklevel=2
            )
        sandboxed = not reason
    job_limits = {**(limits or {}), "cpu": int((limits or {}).get("cpu", student_timeout))}
    course.ensure_assignment(assignment)
    record_deadline(course, assignment)  # the configured deadline, for the formgrader too
    with CourseGradebook(course, assignment) as book:
        submitted = course.submitted_students(assignment)
        todo = sorted(students) if students else submitted
        results: list[StudentResult] = []
        pending = []
        for student in todo:
            src = course.submitted_dir(student, assignment)
            if not src.exists():
                results.append(
                    StudentResult(
                        student,
                        "failed",
                        reason=f"no submission: {src} does not exist",
                        flags=["missing"],
                        recorded=False,
                    )
                )
                continue
            unsafe_files = [
                p.relative_to(src).as_posix()
                for p in src.rglob("*")
                if p.is_symlink() or not (p.is_file() or p.is_dir())
            ]
            oversized = [
                p.relative_to(src).as_posix()
                for p in src.rglob("*")
                if not p.is_symlink() and p.is_file() and p.stat().st_size > MAX_FILE_BYTES
            ]
            refusal = None
            uncollected = not_collected_reason(course, student, assignment)
            if uncollected:  # collect found nothing usable in the upload: 0 with collect's reason
                refusal = "not collected", f"could not be collected: {uncollected}"
            elif unsafe_files:
                # a link or device could make the grader read files outside the submission
                refusal = (
                    "unsafe file",
                    f"links or special files in the submission ({unsafe_files})",
                )
            elif oversized:
                # nbgrader reads notebooks whole into memory; no answer needs this much
                limit = MAX_FILE_BYTES // 2**20
                refusal = (
                    "oversized file",
                    f"files over {limit} MiB in the submission ({oversized})",
                )
            if refusal:
                flag, why = refusal
                flags = [flag, *collect_flags(course, student, assignment)]
                recorded = record_grades(course, assignment, student, None, flags, None, book=book)
                results.append(
                    StudentResult(
                        student,
                        "failed",
                        max_score=recorded.max_score,
                        hand_max_score=recorded.hand_max_score,
                        flags=flags,
                        reason=f"not graded: {why}",
                        manual_redo=recorded.manual_redo,
                    )
                )
                continue
            marker = _read_marker(course.autograded_dir(student, assignment))
            if not force and marker and marker.get("hash") == submission_hash(src):
                results.append(
                    StudentResult(
                        student,
                        "skipped",
                        score=marker.get("score", 0.0),
                        max_score=marker.get("max_score", 0.0),
                        hand_max_score=marker.get("hand_max_score", 0.0),
                        flags=marker.get("flags", []),
                        reason=marker.get("reason", ""),
                        manual_redo=marker.get("manual_redo", []),
                        previous=marker.get("status")
                        or (
                            "failed" if {"error", "timeout"} & set(marker.get("flags", [])) else ""
                        ),
                    )
                )
                continue
            pending.append(student)

        if pending:
            # the answer keys come from running the solution here, in the trusted process; a source
            # whose solution fails its own tests stops the batch before any student is graded
            # (one key per variant the pending students have, on an assignment with variants)
            from tpmlab.grading.keys import class_keys

            class_keys(course, assignment, pending)
        work = Path(tempfile.mkdtemp(prefix="tpmlab-grade-", dir=course.root))
        started_workers: list[Worker] = []
        try:
            snapshot = work / "gradebook.db"
            course.export_sqlite_snapshot(snapshot, assignment, pending)
            if cluster and pending:
                from tpmlab.grading.cluster import grade_on_cluster

                bar = progress_bar(len(pending), progress)
                for outcome in grade_on_cluster(
                    cluster,
                    course,
                    assignment,
                    pending,
                    snapshot=snapshot,
                    work=work,
                    cell_timeout=cell_timeout,
                    student_timeout=student_timeout,
                    sandboxed=sandboxed,
                    limits=job_limits,
                    shared_folder=shared_folder,
                ):
                    if isinstance(outcome, StudentResult):  # no worker could grade it: not recorded
                        results.append(outcome)
                    else:
                        results.append(
                            _finish_safely(course, assignment, sandboxed, book=book, **outcome)
                        )
                    bar.update(results[-1])
                bar.close()
                pending = []  # graded: the local pool below has nothing to do
            jupyter_path = None
            if pending:  # once, before the kernels: none of them compiles pandas from source
                from tpmlab.grading.bytecode import compile_kernel_packages

                compile_kernel_packages()
            if sandboxed and pending:
                jupyter_path = work / "jupyter"
                sb.install_kernelspec(jupyter_path)
                sb.prepare_data(course.source_dir(assignment))

            local = threading.local()
            lock = threading.Lock()

            def job(student: str, more: bool):
                worker = getattr(local, "worker", None)
                if worker is None or not worker.alive:
                    worker = local.worker = Worker(course, jupyter_path)
                    with lock:
                        started_workers.append(worker)
                private_db = work / f"{student}.db"
                shutil.copy(snapshot, private_db)
                out_root = work / f"out-{student}"
                started = time.monotonic()
                answer, timed_out = worker.run(
                    {
                        "course_root": str(course.root),
                        "assignment": assignment,
                        "student": student,
                        "private_db": str(private_db),
                        "out_root": str(out_root),
                        "cell_timeout": cell_timeout,
                        "sandbox": sandboxed,
                        "source_dir": str(course.source_dir(assignment)),
                        "limits": job_limits,
                        "more": more,
                    },
                    timeout=student_timeout,
                )
                code = 0 if answer.get("ok") else 1
                seconds = time.monotonic() - started
                return (
                    student,
                    private_db,
                    out_root,
                    code,
                    answer.get("log", ""),
                    timed_out,
                    seconds,
                )

            if pending:
                bar = progress_bar(len(pending), progress)
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    # the pool starts jobs in this order: once the last student is taken none
                    # is left, so its worker starts no kernel ahead for a next one
                    futures = [pool.submit(job, s, s != pending[-1]) for s in pending]
                    for future in as_completed(futures):
                        student, private_db, out_root, code, log, timed_out, seconds = (
                            future.result()
                        )
                        results.append(
                            _finish_safely(
                                course,
                                assignment,
                                sandboxed,
                                book=book,
                                student=student,
                                private_db=private_db,
                                out_root=out_root,
                                code=code,
                                log=log,
                                timed_out=timed_out,
                                seconds=seconds,
                            )
                        )
                        bar.update(results[-1])
                bar.close()
        finally:
            close_all(started_workers)
            shutil.rmtree(work, ignore_errors=True)
    results.sort(key=lambda r: r.student)
    _write_log(course, assignment, results)
    return results


def _write_log(course: Course, assignment: str, results: list[StudentResult]) -> None:
    """Update the review log (what the class report reads) with this run's recorded results;
    students this run did not touch (``--student``) keep their last entry, and a name with
    nothing recorded (no submission) is not added."""
    path = course.reports_dir() / f"{assignment}-autograde.json"
    try:
        rows = {row["student"]: row for row in json.loads(path.read_text())}
    except (OSError, ValueError, KeyError, TypeError):
        rows = {}
    for r in results:
        if r.recorded:
            rows[r.student] = asdict(r)
    course.write_review_log(assignment, [rows[s] for s in sorted(rows)])


def _finish_safely(course, assignment, sandboxed, *, student, seconds, book=None, **outcome):
    """:func:`_finish`, and a recorded failure if finishing raised on what the student wrote.
    ``book``: the run's open :class:`~tpmlab.grading.gradebook.CourseGradebook`."""
    try:
        return _finish(
            course, assignment, student, seconds=seconds, sandboxed=sandboxed, book=book, **outcome
        )
    except Exception as exc:  # noqa: BLE001 - nothing a student wrote stops the batch
        return _step_failed(course, assignment, student, exc, seconds, book=book)


def _finish(
    course,
    assignment,
    student,
    private_db,
    out_root,
    code,
    log,
    timed_out,
    seconds,
    sandboxed,
    graded_by: str = "",
    book=None,
    checks: dict | None = None,
):
    """Record one finished worker: gradebook first, then the autograded folder and marker.
    ``graded_by`` names the cluster worker that graded it (empty for a local worker).
    ``private_db``: the worker's private gradebook, or the grades already read from it
    (:class:`~tpmlab.grading.gradebook.PrivateGrades`, from a cluster worker). ``checks``: what
    :func:`~tpmlab.grading.checks.submission_checks` gives for this student, when the worker
    computed it; computed here otherwise."""
    src = course.submitted_dir(student, assignment)
    produced = out_root / student / assignment
    flags, reason = [], ""
    if timed_out:
        flags.append("timeout")
        reason = "the submission ran past the per-student time limit"
    elif code != 0 or not produced.exists():
        flags.append("error")
        reason = "nbgrader could not grade it: " + (
            _misnamed(course, assignment, src) or _explain(log)
        )
    ok = not flags
    if checks is None:
        checks = submission_checks(course, assignment, src, produced, sandboxed=sandboxed, ok=ok)
    flags += checks["review_flags"]
    flags += collect_flags(course, student, assignment)
    flags += checks["scoring_flags"]
    flags += checks["runtime_flags"]
    timestamp = course.submission_timestamp(student, assignment)
    dest = course.autograded_dir(student, assignment)
    recorded = record_grades(
        course,
        assignment,
        student,
        private_db if ok else None,
        flags,
        timestamp,
        answers=checks["answers"] if ok else {},
        previous_answers=hand_graded_answers(dest) if dest.exists() else {},
        book=book,
    )
    if not ok:
        produced.mkdir(parents=True, exist_ok=True)
    marker = {
        "hash": checks["hash"],
        "status": "graded" if ok else "failed",
        "score": recorded.score,
        "max_score": recorded.max_score,
        "hand_max_score": recorded.hand_max_score,
        "flags": flags,
        "reason": reason,
        "manual_redo": recorded.manual_redo,
        "seconds": round(seconds, 3),
        "sandboxed": sandboxed,
    }
    if graded_by:
        marker["graded_by"] = graded_by
    (produced / MARKER).write_text(json.dumps(marker, indent=1))
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(produced, dest)
    return StudentResult(
        student,
        "graded" if ok else "failed",
        score=recorded.score,
        max_score=recorded.max_score,
        hand_max_score=recorded.hand_max_score,
        seconds=seconds,
        flags=flags,
        reason=reason,
        hand_kept=recorded.hand_kept,
        manual_redo=recorded.manual_redo,
    )


def _step_failed(
    course, assignment, student, exc, seconds: float = 0.0, book=None
) -> StudentResult:
    """A per-student step raised on what the student submitted: 0 on the autograded items, a
    flag with the reason, and a marker so that a re-run skips it instead of failing again."""
    reason = f"grading stopped on this submission: {type(exc).__name__}: {str(exc)[:200]}"
    flags = [f"error: {reason}"]
    recorded = record_grades(course, assignment, student, None, flags, None, book=book)
    max_score = recorded.max_score
    marker = {
        "score": 0.0,
        "max_score": max_score,
        "hand_max_score": recorded.hand_max_score,
        "flags": flags,
        "reason": reason,
        "status": "failed",
    }
    with contextlib.suppress(Exception):
        marker["hash"] = submission_hash(course.submitted_dir(student, assignment))
        dest = course.autograded_dir(student, assignment)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        (dest / MARKER).write_text(json.dumps(marker, indent=1))
    return StudentResult(
        student,
        "failed",
        max_score=max_score,
        hand_max_score=recorded.hand_max_score,
        seconds=seconds,
        flags=flags,
        reason=reason,
    )


def _misnamed(course, assignment: str, folder: Path) -> str | None:
    """What to do when the submission's notebooks do not carry the assignment's names (a
    ``-Copy1`` or a browser's ``(1)``): nbgrader then finds nothing to grade."""
    expected = course.source_notebooks(assignment)
    present = sorted(p.name for p in folder.glob("*.ipynb"))
    missing = [name for name in expected if name not in present]
    if not missing:
        return None
    found = [name for name in present if name not in expected]
    want = ", ".join(missing)
    if not found:
        return f"the submission has no notebook named {want}: ask the student to hand it in"
    return (
        f"the notebook must be named {want} but the submission has {', '.join(found)}: rename "
        f"it to {want} in {folder} (or collect again, which renames a lone misnamed notebook) "
        "and run autograde again"
    )


# nbgrader's closing summary lines, which name no cause
GENERIC = ("above traceback", "error processing assignment", "please see the error log")


def _explain(log: str) -> str:
    """The most specific error line of a worker's log: the exception nbgrader's traceback ends
    with, not its closing summary ("Please see the above traceback...", which is all that
    nbgrader's own exception says)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    useful = [line for line in lines if not any(g in line.lower() for g in GENERIC)]
    errors = [line for line in useful if re.search(r"\w+(Error|Exception|Exit)\b", line)]
    if errors:
        # "nbgrader.converters.base.NbGraderException: No notebooks found" -> the message
        return re.sub(r"^[\w.]*NbGraderException:\s*", "", errors[-1])[:300]
    return (useful or lines or ["no details"])[-1][:300]
