"""Run the practice API in the background: ``start_server()`` from a notebook, test or grader.

::

    from tpmlab.api import start_server
    api = start_server()              # uvicorn on 127.0.0.1, a free port, in a background thread
    requests.get(f"{api.url}/v1/tasks", headers=api.auth())
    api.stop()                        # or `with start_server(...) as api:`

The server binds its own socket on port 0 (the OS picks a free port) before starting, so two
notebooks or parallel tests never collide. Every server is stopped at interpreter exit (a Jupyter
kernel shutting down), and ``stop()`` joins its threads and closes its socket, so nothing leaks.
"""

from __future__ import annotations

import asyncio
import atexit
import socket
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import uvicorn

from tpmlab.api.app import create_app
from tpmlab.api.config import READ_TOKEN, WRITE_TOKEN, ApiConfig
from tpmlab.api.gateway import RequestRecord
from tpmlab.api.state import ApiState
from tpmlab.api.store import Store
from tpmlab.errors import TPMLabError

_RUNNING: weakref.WeakSet[ApiServer] = weakref.WeakSet()


class ServerStartError(TPMLabError):
    """The practice API did not start."""


class ApiServer:
    """A running practice API. Use ``.url``; stop with ``.stop()`` or a ``with`` block."""

    def __init__(self, config: ApiConfig, db_path: str | Path | None, host: str, port: int):
        self.config = config
        self.store = Store(db_path)
        self.app = create_app(config, self.store)
        self.state: ApiState = self.app.state.api
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP; without it keep-alive calls wait ~40 ms for delayed ACKs.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            self.state.close()
            raise ServerStartError(
                f"Could not listen on {host}:{port} ({exc.strerror}).",
                "Another program uses that port: start the API with port=0 to pick a free one.",
            ) from exc
        self._sock.listen(128)
        self.host, self.port = self._sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        uv_config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(
            target=self._run, name=f"orbit-api-{self.port}", daemon=True
        )
        self._error: BaseException | None = None
        self._stopped = False

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported by start()
            self._error = exc

    def start(self, timeout: float = 10.0) -> ApiServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self.stop()
                raise ServerStartError(
                    f"The practice API failed to start: {self._error!r}.",
                    "Restart the kernel and run the cell again; if it persists, report it.",
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"The practice API did not start within {timeout:g} s.",
                    "The machine may be overloaded: close other notebooks and try again.",
                )
            time.sleep(0.005)
        _RUNNING.add(self)
        return self

    # -- control ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop serving, join the threads, release the port. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()
        self.state.close()
        _RUNNING.discard(self)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Orbit practice API {state} at {self.url}>"

    # -- conveniences for notebooks, tests and graders ---------------------------------------
    read_token = READ_TOKEN
    write_token = WRITE_TOKEN

    def auth(self, token: str | None = None) -> dict[str, str]:
        """Headers with a bearer token (default: the read-only demo token)."""
        return {"Authorization": f"Bearer {token or self.read_token}"}

    def configure(self, **changes: Any) -> None:
        """Change settings of the running server (e.g. ``error_rate=0.2``); checked first."""
        new = self.config.updated(**changes)
        for name in changes:
            setattr(self.config, name, getattr(new, name))
        if "fault_seed" in changes:
            self.state.faults.reseed(self.config.fault_seed)
        if {"rate_limit", "rate_window_s"} & set(changes):
            self.state.limiter.reset()

    def fail_next(self, *statuses: int, method: str | None = None, path: str | None = None):
        """Answer the next matching API requests with these statuses, in order."""
        self.state.faults.fail_next(*statuses, method=method, path=path)

    def requests_log(
        self, method: str | None = None, path: str | None = None, token: str | None = None
    ) -> list[RequestRecord]:
        """What clients sent so far (optionally one method, path prefix, or token)."""
        return self.state.log.records(method, path, token)

    def clear_log(self) -> None:
        self.state.log.clear()

    def webhook_deliveries(self, flush: bool = True):
        """Webhook deliveries attempted so far (waits for queued ones first)."""
        if flush:
            self.state.dispatcher.flush()
        return list(self.state.dispatcher.log)


def start_server(
    config: ApiConfig | None = None,
    *,
    db_path: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    **settings: Any,
) -> ApiServer:
    """Start the practice API in a background thread and return its handle.

    ``settings`` are :class:`~tpmlab.api.config.ApiConfig` fields (``max_page_size=7``,
    ``rate_limit=5, rate_window_s=1``, ``error_rate=0.2``, ...). ``port=0`` picks a free port.
    """
    config = (config or ApiConfig()).updated(**settings) if settings else (config or ApiConfig())
    return ApiServer(config, db_path, host, port).start()


def stop_all() -> None:
    """Stop every practice server of this process (run automatically at exit)."""
    for server in list(_RUNNING):
        server.stop()


atexit.register(stop_all)
