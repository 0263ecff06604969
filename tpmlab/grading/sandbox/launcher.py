"""The kernel launcher, the ``tpmlab-sandbox`` kernelspec's command (``python -m
tpmlab.grading.sandbox -f CONNECTION_FILE``): it builds the sandbox, starts the sentinel and
ipykernel inside, and relays the sentinel's reports to the evidence file.

The relay is a process of its own, in a session of its own: the grader may shut a kernel down
by killing the launcher's process group (``Execute.shutdown_kernel = "immediate"``, as
``tpmlab-grade``'s worker does) right after the last cell, before the sentinel's last reports
have been read from the pipe. The relay is not in that group; it reads the pipe to its end (the
kernel's death closes it) and holds a lock on the evidence file until it has written everything,
and :func:`tpmlab.grading.sentinel.evidence_flags` waits for that lock before reading.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tpmlab.errors import TPMLabError
from tpmlab.grading import sentinel
from tpmlab.grading.sandbox.ahead import PRELOAD_ENV
from tpmlab.grading.sandbox.box import Sandbox
from tpmlab.grading.sandbox.config import INSTALL_HINT

#: How long the relay waits, once the reports pipe has closed, to see whether the kernel has
#: ended too; if it still runs, the submission closed the pipe (and that is reported).
CLOSED_PIPE_GRACE_S = 3.0
#: How long the launcher waits for the relay after the kernel has ended.
RELAY_EXIT_WAIT_S = 5.0


def _fail(message: str) -> int:
    print(f"tpmlab sandbox: {message}", file=sys.stderr, flush=True)
    return 3


def _open_evidence(path: str | None) -> int | None:
    """The evidence file, open for appending and locked (:func:`fcntl.flock`, exclusive) before
    the kernel starts: the lock is let go when the relay, the last holder, closes it."""
    if not path:
        return None
    try:
        out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None
    with contextlib.suppress(OSError):
        fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return out


def _relay_evidence(read_end: int, out: int | None, kernel_alive: int) -> None:
    """Copy the kernel's reports (:mod:`tpmlab.grading.sentinel`) from the pipe to the evidence
    file ``out`` until the pipe's end (at most ``MAX_EVIDENCE_BYTES``; the rest is read and
    dropped). ``kernel_alive`` is a pipe the launcher holds open while the kernel runs."""
    kept = 0
    try:
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            if out is not None and kept < sentinel.MAX_EVIDENCE_BYTES:
                chunk = chunk[: sentinel.MAX_EVIDENCE_BYTES - kept]
                kept += len(chunk)
                with contextlib.suppress(OSError):
                    os.write(out, chunk)
        # the pipe closed: normal when the kernel ends; while it still runs, the submission
        # closed it
        ended, _, _ = select.select([kernel_alive], [], [], CLOSED_PIPE_GRACE_S)
        if not ended and out is not None:
            line = b'\n{"kind": "reports channel closed while the kernel ran"}\n'
            with contextlib.suppress(OSError):
                os.write(out, line)
    finally:
        os.close(read_end)
        os.close(kernel_alive)
        if out is not None:
            os.close(out)


def _start_relay(read_end: int, out: int | None, kernel_alive: int, keep_closed: list[int]) -> int:
    """Fork the relay (see the module's docstring); return its pid. ``keep_closed`` are the
    launcher's descriptors the relay must not hold (the pipes' write ends, the uid slot's lock)."""
    pid = os.fork()
    if pid:
        return pid
    try:  # the relay
        os.setsid()
        for fd in keep_closed:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        _relay_evidence(read_end, out, kernel_alive)
    finally:
        os._exit(0)


def _wait_for(pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(pid, os.WNOHANG)[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    """``python -m tpmlab.grading.sandbox -f CONNECTION_FILE``: ipykernel inside the sandbox."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2 or argv[0] != "-f":
        return _fail("usage: python -m tpmlab.grading.sandbox -f CONNECTION_FILE")
    connection_file = Path(argv[1]).resolve()
    info = json.loads(connection_file.read_text())
    if info.get("transport") != "ipc" or not os.path.isabs(info.get("ip", "")):
        return _fail(
            "the sandboxed kernel needs the IPC transport with an absolute path "
            "(KernelManager.transport = 'ipc'); refusing to start it."
        )
    socket_dir = Path(info["ip"]).parent
    if len(info["ip"]) > 95:
        return _fail(f"the IPC socket path {info['ip']} is too long for a unix socket.")
    try:
        reason = None if os.geteuid() == 0 and shutil.which("bwrap") else "no bwrap or not root"
        if reason:
            return _fail(f"cannot sandbox this kernel: {reason}. {INSTALL_HINT}")
        files = os.environ.get("TPMLAB_SANDBOX_FILES")
        box = Sandbox(shared=[socket_dir], files_from=Path(files) if files else None)
    except (OSError, TPMLabError) as exc:
        return _fail(f"cannot prepare the sandbox: {exc}")
    relay = None
    alive_write = None
    try:
        conn_copy = box.meta / "kernel.json"
        conn_copy.write_text(json.dumps(info))
        os.chown(conn_copy, box.uid, box.uid)
        os.chmod(conn_copy, 0o400)

        read_end, write_end = os.pipe()
        alive_read, alive_write = os.pipe()
        out = _open_evidence(os.environ.get(sentinel.FILE_ENV))
        # before the kernel starts (no thread runs yet): the relay holds the evidence lock
        relay = _start_relay(
            read_end, out, alive_read, keep_closed=[write_end, alive_write, box.slot.fd]
        )
        for fd in (read_end, alive_read, *([] if out is None else [out])):
            os.close(fd)
        try:
            proc = box.popen(
                [sys.executable, "-m", "tpmlab.grading.sentinel", "-f", "/run/tpmlab/kernel.json"],
                extra_env={
                    sentinel.FD_ENV: str(write_end),
                    PRELOAD_ENV: os.environ.get(PRELOAD_ENV, ""),
                },
                stdin=subprocess.DEVNULL,
                pass_fds=(write_end,),
            )
        finally:
            os.close(write_end)

        def stop(signum, frame):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # bwrap's --die-with-parent takes the whole sandbox down

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts arrive as messages
        return proc.wait()
    finally:
        if alive_write is not None:
            os.close(alive_write)  # the kernel has ended (or never started)
        if relay is not None:
            _wait_for(relay, RELAY_EXIT_WAIT_S)
        box.close()
