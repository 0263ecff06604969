"""The practice API as a process component: fast start, clean stop, CLI, on the real dataset."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from tpmlab.api import READ_TOKEN, start_server, stop_all
from tpmlab.api.server import ServerStartError
from tpmlab.api.store import default_database, prepare_cache

pytestmark = pytest.mark.skipif(
    not default_database().exists(), reason="Orbit's dataset is not built (make data)"
)


@pytest.fixture(scope="module", autouse=True)
def warm_cache():
    prepare_cache(default_database())  # built once per dataset (the first start pays for it)


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not a leak
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_starts_fast_serves_real_data_and_stops_without_leaks():
    before = set(threading.enumerate())
    started = time.perf_counter()
    server = start_server()
    startup = time.perf_counter() - started
    try:
        assert startup < 2.0, f"start took {startup:.2f} s"
        r = requests.get(f"{server.url}/v1/tasks", headers=server.auth(), params={"limit": 3})
        assert r.status_code == 200 and len(r.json()["data"]) == 3
        assert len(set(threading.enumerate()) - before) >= 2  # server + webhook threads
    finally:
        port = server.port
        server.stop()
    leaked = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leaked == []
    assert _port_is_free(port)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/health", timeout=2)
    server.stop()  # idempotent


def test_many_servers_get_distinct_ports_and_stop_all():
    before = set(threading.enumerate())
    servers = [start_server(rate_limit=None) for _ in range(3)]
    assert len({s.port for s in servers}) == 3
    assert all(requests.get(f"{s.url}/health").ok for s in servers)
    stop_all()  # what atexit runs when a kernel shuts down
    assert not any(s.running for s in servers)
    assert [t for t in set(threading.enumerate()) - before if t.is_alive()] == []


def test_busy_port_gives_a_clear_error():
    with start_server() as server, pytest.raises(ServerStartError, match="port=0"):
        start_server(port=server.port)


def test_api_writes_never_touch_the_dataset():
    with start_server() as a:
        new = requests.post(
            f"{a.url}/v1/tasks",
            headers={"Authorization": f"Bearer {a.write_token}"},
            json={"project_id": 1, "title": "scratch"},
        ).json()
    with start_server() as b:
        r = requests.get(f"{b.url}/v1/tasks/{new['id']}", headers=b.auth())
        assert r.status_code == 404


def test_command_line_server_and_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tpmlab.api", "--port", "0", "--rate-limit", "5/1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert "running at http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split("running at ")[1].split()[0]
        assert READ_TOKEN in proc.stdout.readline()
        r = requests.get(f"{url}/v1/users/1", headers={"Authorization": f"Bearer {READ_TOKEN}"})
        assert r.status_code == 200 and r.headers["RateLimit-Limit"] == "5"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cache_falls_back_to_temp_when_the_data_folder_is_read_only(tmp_path, monkeypatch):
    import tempfile

    from tpmlab.api import store as store_module
    from tpmlab.api.sample import build_sample_db

    data = tmp_path / "data"
    data.mkdir()
    db = build_sample_db(data / "orbit.sqlite")
    real_mkstemp = tempfile.mkstemp

    def read_only_data_folder(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(data)):
            raise PermissionError(13, "Read-only file system")
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(store_module.tempfile, "mkstemp", read_only_data_folder)
    monkeypatch.setattr(store_module.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    cache = store_module.prepare_cache(db)
    assert cache.parent == tmp_path / "tmp" / "tpmlab-api-cache" and cache.exists()
    store = store_module.Store(db)
    assert store.count("tasks") == 240
    store.close()
    assert not (data / "cache" / "api").exists() or not any((data / "cache" / "api").iterdir())


def test_kernel_shutdown_stops_the_server(tmp_path):
    """A notebook never calls stop(): the atexit hook must stop the server when the kernel exits."""
    from jupyter_client.manager import start_new_kernel

    marker = tmp_path / "stopped.txt"
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = f"""
import tpmlab.api.server as s
_orig = s.ApiServer.stop
def _stop(self):
    _orig(self)
    open({str(marker)!r}, "w").write(str(self.port))
s.ApiServer.stop = _stop
api = s.start_server()
print(api.port)
"""
        reply = kc.execute_interactive(code, timeout=60, output_hook=lambda msg: None)
    finally:
        kc.stop_channels()
    assert reply["content"]["status"] == "ok"
    km.shutdown_kernel(now=False)  # the polite shutdown JupyterLab sends
    assert marker.exists(), "the server was not stopped at kernel shutdown"
    port = int(marker.read_text())
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_show_helpers_render_curl_and_raw_http():
    import shlex

    from tpmlab.api.show import exchange, to_curl

    with start_server() as api:
        r = requests.post(
            f"{api.url}/v1/tasks",
            headers={**api.auth(api.write_token), "Idempotency-Key": "k 1"},
            json={"project_id": 1, "title": "It's quoted"},
        )
    argv = shlex.split(to_curl(r.request))
    assert argv[:4] == ["curl", "-i", "-X", "POST"] and argv[-1] == f"{api.url}/v1/tasks"
    assert "Idempotency-Key: k 1" in argv and '{"project_id": 1, "title": "It\'s quoted"}' in argv
    assert f"Authorization: Bearer {api.write_token}" in argv
    assert api.write_token not in to_curl(r.request, redact=True)
    text = exchange(r)
    assert text.startswith("POST /v1/tasks HTTP/1.1\nHost: 127.0.0.1:")
    assert "HTTP/1.1 201 Created" in text and api.write_token not in text
    assert '"title": "It\'s quoted"' in text
