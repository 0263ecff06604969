"""The coordinator's side of a grading worker: start one long-lived ``tpmlab.grading.worker``
process (in the sandbox's environment when asked), send it one student's job at a time, and kill
it with every process it started. Local grading (:mod:`.autograde`) and cluster workers
(:mod:`.cluster`) drive students through it."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

from tpmlab.grading.coursedir import Course


def _pids_with_token(token: str) -> list[int]:
    """Processes (the worker and every kernel it started) carrying ``token`` in their
    environment."""
    needle = f"TPMLAB_WORKER_TOKEN={token}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class Worker:
    """One long-lived ``tpmlab.grading.worker`` process (see that module)."""

    def __init__(
        self, course: Course, jupyter_path: Path | None = None, env_extra: dict | None = None
    ):
        self.token = uuid.uuid4().hex
        env = {**course.env(), **(env_extra or {})}
        env["TPMLAB_WORKER_TOKEN"] = self.token
        env["TPMLAB_COURSE_ROOT"] = str(course.root)
        self.sandbox_dir = None
        if jupyter_path is not None:  # sandboxed: the kernelspec, and a short dir for sockets
            self.sandbox_dir = tempfile.mkdtemp(prefix="tpmlab-sb-")
            env["TPMLAB_SANDBOX_DIR"] = self.sandbox_dir
            env["JUPYTER_PATH"] = os.pathsep.join(
                p for p in [str(jupyter_path), env.get("JUPYTER_PATH", "")] if p
            )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tpmlab.grading.worker"],
            cwd=course.root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        assert self.proc.stdout is not None  # opened with stdout=PIPE
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, job: dict, timeout: float) -> tuple[dict, bool]:
        """Send one job; return (answer, timed_out). A dead or stuck worker is killed."""
        assert self.proc.stdin is not None  # opened with stdin=PIPE
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            return {"ok": False, "log": "time limit"}, True
        except OSError:
            line = None
        if line is None:
            self.kill()
            return {"ok": False, "log": "the grading worker died"}, False
        return json.loads(line), False

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Kill the worker and every process it started (kernels included)."""
        from tpmlab.grading.sandbox import kill_all

        kill_all(lambda: _pids_with_token(self.token), rounds=3, pause=0.05)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        if self.sandbox_dir:
            from tpmlab.grading.sandbox import release_mounts

            release_mounts(self.sandbox_dir)  # socket tmpfs of launchers killed above
            shutil.rmtree(self.sandbox_dir, ignore_errors=True)

    def end_input(self) -> None:
        """Tell the worker no job follows: it shuts its kernels down and ends."""
        assert self.proc.stdin is not None  # opened with stdin=PIPE
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def close(self) -> None:
        self.end_input()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.kill()  # nothing a submission started may outlive its grading


def close_all(workers: list[Worker]) -> None:
    """Close ``workers``, all ending at once rather than one after the other."""
    for worker in workers:
        worker.end_input()
    for worker in workers:
        worker.close()
