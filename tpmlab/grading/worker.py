"""A long-lived grading worker: runs nbgrader's autograde converter for one student at a time.

The coordinator (:mod:`tpmlab.grading.autograde`) starts a few of these processes and sends each
a job as one JSON line on standard input; the worker answers with one JSON line on its result
channel. Keeping the worker alive between students pays Python's and nbgrader's start-up once per
worker instead of once per student. Each job uses nbgrader itself (``nbgrader.converters.
Autograde`` with the course's ``nbgrader_config.py``), against a private gradebook and into a
private output folder given in the job.

Every process the worker starts (the kernels) inherits ``TPMLAB_WORKER_TOKEN``, so the
coordinator can find and kill all of them when a student runs past its time limit.

A job with ``"sandbox": true`` forces the ``tpmlab-sandbox`` kernelspec and its IPC kernel
manager (see :mod:`tpmlab.grading.sandbox`): the student's kernel runs in a bubblewrap sandbox
whose scratch directory holds the assignment's data files only. If that kernelspec or the sandbox
is missing, the kernel does not start and the job fails; it is never graded unsandboxed.
While a sandboxed student runs, the worker starts the next student's kernel (a fresh sandbox and
interpreter, :mod:`tpmlab.grading.sandbox.ahead`), which serves that one student only; not when
the job says ``"more": false`` (no student is left to start).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

#: ``0`` in the environment: no kernel started ahead of need (see
#: :mod:`tpmlab.grading.sandbox.ahead`); each student's kernel starts when its notebook runs.
AHEAD_ENV = "TPMLAB_GRADE_AHEAD"


@contextlib.contextmanager
def shared_gradebook_engine():
    """While open, nbgrader's ``Gradebook`` gets one SQLAlchemy engine for all the jobs.

    nbgrader opens the gradebook about nine times per student, each time with a new engine, and
    a new engine starts with an empty compiled-statement cache: every query of every student was
    compiled again (in a profile of warm-up submissions SQLAlchemy took a fifth of the time, half
    of that compiling; with the shared engine, 0.235 -> 0.132 s per submission). The shared
    engine opens the current job's file (the ``sqlite:///`` URL nbgrader was last given) on each
    connection and keeps no connection between uses (``NullPool``), so nothing of one student's
    gradebook outlives its job; only the compiled statements are kept. Any other URL gets an
    engine of its own, as nbgrader would make it. Only for a process that opens one gradebook
    file at a time, as the worker's :func:`main` does (the coordinator opens two at once);
    nbgrader's own ``create_engine`` is back when the block ends."""
    import sqlite3

    import nbgrader.api
    from sqlalchemy.pool import NullPool

    original = nbgrader.api.create_engine
    prefix = "sqlite:///"
    current: dict[str, str] = {}

    def connect():
        connection = sqlite3.connect(current["path"])
        # a private gradebook is scratch, read by the coordinator once the job has ended: no
        # write waits for the disk (only the machine going down mid-job could lose one, and then
        # the student has no marker and is graded again on the next run)
        connection.execute("PRAGMA synchronous = OFF")
        return connection

    engine = original("sqlite://", creator=connect, poolclass=NullPool, future=True)

    def create_engine(url, *args, **kwargs):
        if args or not isinstance(url, str) or not url.startswith(prefix):
            return original(url, *args, **kwargs)
        current["path"] = url[len(prefix) :]
        return engine

    nbgrader.api.create_engine = create_engine
    try:
        yield engine
    finally:
        nbgrader.api.create_engine = original
        engine.dispose()


def _grade(job: dict) -> dict:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=job["course_root"]).load_config()
    config.CourseDirectory.db_url = f"sqlite:///{job['private_db']}"
    config.CourseDirectory.autograded_directory = job["out_root"]
    config.CourseDirectory.assignment_id = job["assignment"]
    config.CourseDirectory.student_id = job["student"]
    config.Execute.timeout = job["cell_timeout"]
    config.Execute.interrupt_on_timeout = True
    # the outputs of a cell may still be arriving when its reply does; on a loaded machine the
    # default 4 s wait for them made honest cells with plots or many displays fail
    config.Execute.iopub_timeout = max(10, job["cell_timeout"])
    # Outputs are collected before shutdown; a graceful kernel shutdown only costs time here.
    config.Execute.shutdown_kernel = "immediate"
    if job.get("sandbox"):
        from tpmlab.grading import sandbox

        config.Execute.kernel_name = sandbox.KERNEL_NAME
        config.Execute.kernel_manager_class = "tpmlab.grading.sandbox.SandboxKernelManager"
        config.KernelManager.transport = "ipc"
        ipc_dir = tempfile.mkdtemp(prefix="job", dir=os.environ["TPMLAB_SANDBOX_DIR"])
        os.environ["TPMLAB_SANDBOX_IPC_DIR"] = ipc_dir
        os.environ["TPMLAB_SANDBOX_FILES"] = job["source_dir"]
        os.environ["TPMLAB_SANDBOX_LIMITS"] = json.dumps(job.get("limits", {}))
    # the course's config runs kernels through SandboxedExecute (tpmlab.grading.preprocessors.
    # sandboxed_execute), which refuses an unsandboxed kernel unless grading is explicitly unsafe
    from tpmlab.grading.preprocessors.sandboxed_execute import UNSAFE_ENV

    if job.get("sandbox"):
        os.environ.pop(UNSAFE_ENV, None)
    else:
        os.environ[UNSAFE_ENV] = "1"
    config.Autograde.force = True
    config.Autograde.create_student = True
    log_stream = io.StringIO()
    log = logging.getLogger(f"tpmlab.worker.{job['student']}")
    log.handlers[:] = [logging.StreamHandler(log_stream)]
    log.setLevel(logging.WARNING)
    log.propagate = False
    coursedir = CourseDirectory(config=config, log=log)
    converter = Autograde(coursedir=coursedir, config=config, log=log)
    if job.get("sandbox") and os.environ.get(AHEAD_ENV, "1") != "0":
        from tpmlab.grading.sandbox import ahead

        settings = ahead.Settings(
            job["source_dir"],
            os.environ["TPMLAB_SANDBOX_LIMITS"],
            ",".join(ahead.preload_modules(Path(job["source_dir"]))),
        )
        ahead.hand_over(settings)  # the kernel started during the previous student, if any
        if job.get("more", True):  # the coordinator says when no student is left to start
            ahead.start_next(settings, Path(os.environ["TPMLAB_SANDBOX_DIR"]), config)
    try:
        converter.start()
        ok = True
    except BaseException as exc:  # nbgrader raises NbGraderException; a kernel death others
        log.error("%s: %s", type(exc).__name__, exc)
        ok = False
    finally:
        if job.get("sandbox"):
            from tpmlab.grading.sandbox import ahead, release_mounts

            ahead.drop_unused()  # a kernel started ahead never serves a second student

            ipc_dir = os.environ.pop("TPMLAB_SANDBOX_IPC_DIR")
            release_mounts(ipc_dir)  # a launcher killed at shutdown leaves its socket tmpfs
            shutil.rmtree(ipc_dir, ignore_errors=True)
    return {"student": job["student"], "ok": ok, "log": log_stream.getvalue()[-4000:]}


def main() -> int:
    os.chdir(os.environ.get("TPMLAB_COURSE_ROOT", "."))
    # Results go to a private copy of stdout; anything else that prints goes to stderr.
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with shared_gradebook_engine():
        for line in sys.stdin:
            if not line.strip():
                continue
            job = json.loads(line)
            try:
                answer = _grade(job)
            except BaseException:
                answer = {"student": job.get("student"), "ok": False, "log": traceback.format_exc()}
            results.write(json.dumps(answer) + "\n")
    if "tpmlab.grading.sandbox.ahead" in sys.modules:
        sys.modules["tpmlab.grading.sandbox.ahead"].close_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
