"""A real key-value server for the lessons and the grader: a local Valkey (or Redis) server.

::

    from tpmlab.sysdesign.kvstore import start_kv
    kv = start_kv()              # valkey-server or redis-server on 127.0.0.1, a free port
    kv.client.set("session:abc", "42", ex=3600)
    kv.stop()                    # or `with start_kv() as kv:`

The server keeps everything in memory (no snapshots, no append-only file) in a temporary folder
of its own, listens on loopback only, and is stopped at interpreter exit (a Jupyter kernel
shutting down) if ``stop()`` was not called. Where neither ``valkey-server`` nor ``redis-server``
is installed, :func:`start_kv` raises :class:`KVServerMissing`, saying how to install one
(Binder installs ``redis-server`` from the repository's ``apt.txt``; ``.ci/run`` installs it too).
The client is redis-py (``redis``), which speaks the protocol both servers share.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tpmlab import validate as check
from tpmlab.errors import TPMLabError

#: Server programs tried in order: Valkey (the Linux Foundation's fork) first, then Redis.
SERVER_PROGRAMS = ("valkey-server", "redis-server")


class KVServerMissing(TPMLabError):
    """No key-value server program is installed on this machine."""


class KVServerStartError(TPMLabError):
    """The key-value server was found but did not start."""


def server_program() -> str:
    """The path of the first installed server program, or :class:`KVServerMissing`."""
    for name in SERVER_PROGRAMS:
        found = shutil.which(name)
        if found:
            return found
    raise KVServerMissing(
        "No key-value server is installed here (looked for valkey-server and redis-server).",
        "On Debian or Ubuntu run `sudo apt-get install redis-server` (or valkey-server) in a "
        "terminal, then run this cell again. On Binder it is installed for you; if you see this "
        "there, restart the Binder session.",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KVServer:
    """A running key-value server: ``.client`` (redis-py, strings decoded), ``.port``, ``.stop()``."""

    def __init__(self, program: str, port: int, startup_timeout: float):
        import redis

        self.program = Path(program).name
        self.port = port
        self._dir = Path(tempfile.mkdtemp(prefix="tpmlab-kv-"))
        log = self._dir / "server.log"
        self._proc = subprocess.Popen(
            [
                program,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
                "--logfile",
                str(log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        deadline = time.monotonic() + startup_timeout
        while True:
            if self._proc.poll() is not None:
                text = log.read_text() if log.exists() else ""
                self._cleanup()
                raise KVServerStartError(
                    f"{self.program} exited at start (code {self._proc.returncode}): "
                    f"{text.strip()[-300:]}",
                    "Run the cell again (it picks another port); if it keeps failing, restart "
                    "the kernel (Kernel > Restart Kernel).",
                )
            try:
                if self.client.ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise KVServerStartError(
                    f"{self.program} did not answer within {startup_timeout:g} s.",
                    "The machine may be busy: run the cell again.",
                )
            time.sleep(0.02)
        atexit.register(self.stop)

    def stop(self) -> None:
        """Stop the server and remove its folder; calling it twice is harmless."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self.client.close()
        self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> KVServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_kv(startup_timeout: float = 10.0) -> KVServer:
    """Start an in-memory Valkey or Redis server on a free loopback port and return it."""
    startup_timeout = check.number("startup_timeout", startup_timeout, low=0, low_open=True)
    return KVServer(server_program(), _free_port(), startup_timeout)
