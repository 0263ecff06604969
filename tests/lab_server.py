"""Start ``python -m tpmlab.course lab`` (what `make lab` runs) on a free localhost port with a
temporary token, wait until it answers, and stop it with everything it started."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and everything it started (its kernels), by process group."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def running_lab(folder: Path, extra_args: list[str] = (), env: dict[str, str] | None = None):
    """A JupyterLab started in ``folder`` (runtime, workspaces and ``lab.log`` there); yields
    (base URL, token, log path). Fails the test if it exits early or does not answer in 60 s."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(env or os.environ, JUPYTER_RUNTIME_DIR=str(folder / "runtime"), PYTHONUNBUFFERED="1")
    log_path = folder / "lab.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tpmlab.course",
            "lab",
            "--no-browser",
            "--port",
            str(port),
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.token={token}",
            f"--LabApp.workspaces_dir={folder / 'workspaces'}",
            *extra_args,
        ],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited early:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer in 60 s:\n{log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.3)
        yield base, token, log_path
    finally:
        stop(proc)
        log.close()
