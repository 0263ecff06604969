"""The kernel launcher, the ``tpmlab-sandbox`` kernelspec's command (``python -m
tpmlab.grading.sandbox -f CONNECTION_FILE``): it builds the sandbox, starts the sentinel and
ipykernel inside, and relays the sentinel's reports to the evidence file."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tpmlab.errors import TPMLabError
from tpmlab.grading.sandbox.box import Sandbox
from tpmlab.grading.sandbox.config import INSTALL_HINT


def _fail(message: str) -> int:
    print(f"tpmlab sandbox: {message}", file=sys.stderr, flush=True)
    return 3


def _relay_evidence(read_end: int, path: str | None, proc: subprocess.Popen) -> None:
    """Copy the kernel's reports (:mod:`tpmlab.grading.sentinel`) from the pipe to the evidence
    file ``path`` (at most ``MAX_EVIDENCE_BYTES``; the rest is read and dropped)."""
    from tpmlab.grading.sentinel import MAX_EVIDENCE_BYTES

    out = None
    if path:
        with contextlib.suppress(OSError):
            out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    kept = 0
    try:
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            if out is not None and kept < MAX_EVIDENCE_BYTES:
                chunk = chunk[: MAX_EVIDENCE_BYTES - kept]
                kept += len(chunk)
                with contextlib.suppress(OSError):
                    os.write(out, chunk)
        # the pipe closed: normal when the kernel ends; while it still runs, the submission
        # closed it
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            if out is not None:
                line = b'\n{"kind": "reports channel closed while the kernel ran"}\n'
                with contextlib.suppress(OSError):
                    os.write(out, line)
    finally:
        os.close(read_end)
        if out is not None:
            os.close(out)


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
    try:
        conn_copy = box.meta / "kernel.json"
        conn_copy.write_text(json.dumps(info))
        os.chown(conn_copy, box.uid, box.uid)
        os.chmod(conn_copy, 0o400)
        from tpmlab.grading import sentinel

        read_end, write_end = os.pipe()
        try:
            proc = box.popen(
                [sys.executable, "-m", "tpmlab.grading.sentinel", "-f", "/run/tpmlab/kernel.json"],
                extra_env={sentinel.FD_ENV: str(write_end)},
                stdin=subprocess.DEVNULL,
                pass_fds=(write_end,),
            )
        finally:
            os.close(write_end)
        relay = threading.Thread(
            target=_relay_evidence,
            args=(read_end, os.environ.get(sentinel.FILE_ENV), proc),
            daemon=True,
        )
        relay.start()

        def stop(signum, frame):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # bwrap's --die-with-parent takes the whole sandbox down

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts arrive as messages
        code = proc.wait()
        relay.join(timeout=5)
        return code
    finally:
        box.close()
