"""Webhooks of the practice API: signing deliveries, sending them, and a receiver for notebooks.

Orbit signs every webhook the way Stripe does: the header ::

    Orbit-Signature: t=1719792000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

carries the Unix time ``t`` at which the delivery was signed and one or more ``v1`` signatures
(several while a secret is being rotated). Each ``v1`` is the hex HMAC-SHA256, keyed with the
endpoint's secret, of the *signed payload*: the timestamp, a dot, and the raw request body bytes
(``f"{t}.".encode() + body``). Signing the timestamp with the body lets a receiver refuse old
deliveries (replay protection): an attacker who captured a delivery cannot change ``t``.

This module only *signs*. Verifying is what the learner writes in the lessons and the assignment.
After verifying, a receiver drops duplicates with :class:`SeenEvents`, keyed on the event ``id``
*inside the signed body*. The ``Orbit-Event-Id`` header repeats that id for logs, but headers
other than the signature are not signed: a replay inside the tolerance window can carry any
``Orbit-Event-Id`` it likes, so deduplicating on the header lets it through. (Standard Webhooks
signs ``id.timestamp.body`` for this reason; Orbit's id is in the body, which is signed.)

:class:`Dispatcher` sends deliveries from one background thread; :class:`Receiver` is a tiny local
HTTP server that records what it receives, so a notebook can play the integrator's side.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field

SIGNATURE_HEADER = "Orbit-Signature"
EVENT_ID_HEADER = "Orbit-Event-Id"
EVENT_TYPE_HEADER = "Orbit-Event-Type"
SCHEME = "v1"


def signed_payload(body: bytes, timestamp: int) -> bytes:
    """The bytes that are signed: ``b"<timestamp>." + body``."""
    return f"{int(timestamp)}.".encode() + body


def compute_signature(body: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of the signed payload with ``secret``."""
    return hmac.new(secret.encode(), signed_payload(body, timestamp), hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: str | Iterable[str], timestamp: int | None = None) -> str:
    """The ``Orbit-Signature`` header value for ``body``: one ``v1=`` entry per secret."""
    if isinstance(secrets, str):
        secrets = [secrets]
    ts = int(time.time()) if timestamp is None else int(timestamp)
    parts = [f"t={ts}"] + [f"{SCHEME}={compute_signature(body, s, ts)}" for s in secrets]
    return ",".join(parts)


@dataclass
class Delivery:
    """One webhook request: what was sent (or received) and what came of it."""

    url: str
    body: bytes
    headers: dict[str, str]
    event_id: str = ""
    status: int | None = None  # HTTP status the receiver answered, None if unreachable
    error: str | None = None
    sent_at: float = 0.0

    def json(self):
        return json.loads(self.body)


class Dispatcher:
    """Sends deliveries in order from a single background thread; ``stop()`` joins it."""

    def __init__(self, timeout: float = 5.0):
        self.timeout = timeout
        self.log: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="orbit-webhooks", daemon=True)
        self._thread.start()

    def send(self, delivery: Delivery) -> None:
        self._queue.put(delivery)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued delivery has been attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(item)
            finally:
                self._queue.task_done()

    def _deliver(self, delivery: Delivery) -> None:
        request = urllib.request.Request(
            delivery.url, data=delivery.body, headers=delivery.headers, method="POST"
        )
        delivery.sent_at = time.time()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                delivery.status = response.status
        except urllib.error.HTTPError as exc:
            delivery.status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            delivery.error = str(exc)
        self.log.append(delivery)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)


class SeenEvents:
    """Receiver-side deduplication of *verified* webhook deliveries, on the signed body's ``id``.

    ``first_time(body)`` is True the first time an event id is seen within ``window_s`` seconds
    and False for a duplicate (a sender's retry or a replay). Call it only after the signature
    and the timestamp verified: then the id is as trustworthy as the body. Keep ``window_s`` at
    least the signature tolerance, so any replay that passes the timestamp check is remembered.
    """

    def __init__(self, window_s: float = 300.0, clock=time.time):
        if window_s <= 0:
            raise ValueError(
                f"window_s must be positive seconds (got {window_s!r}): use at least the "
                "signature tolerance, 300 s by default."
            )
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def event_id(body: bytes) -> str:
        """The ``id`` member of a delivery's JSON body (the signed copy of the event id)."""
        try:
            event_id = json.loads(body)["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                "The webhook body is not a JSON object with an `id`: deduplicate only "
                "deliveries whose signature verified (Orbit always sends an id)."
            ) from exc
        return str(event_id)

    def first_time(self, body: bytes, now: float | None = None) -> bool:
        event_id = self.event_id(body)
        now = self._clock() if now is None else now
        with self._lock:
            for old in [k for k, at in self._seen.items() if now - at > self.window_s]:
                del self._seen[old]
            if event_id in self._seen:
                return False
            self._seen[event_id] = now
            return True


@dataclass
class ReceivedWebhook:
    """A request the :class:`Receiver` got: raw body bytes and headers, as an integrator sees them."""

    body: bytes
    headers: dict[str, str]
    path: str
    received_at: float = field(default_factory=time.time)

    def json(self):
        return json.loads(self.body)


class Receiver:
    """A local webhook endpoint for notebooks: ``with Receiver() as r: ...; r.received``.

    It answers every POST with 200 and records the raw request. Runs one thread, stopped by
    ``stop()`` (or leaving the ``with`` block).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, status: int = 200):
        self.received: list[ReceivedWebhook] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.received.append(
                        ReceivedWebhook(body, dict(self.headers.items()), self.path)
                    )
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # silence the default stderr logging
                pass

        self._server = http.server.HTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}/webhooks"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="orbit-webhook-receiver",
            daemon=True,
        )
        self._thread.start()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedWebhook]:
        """Block until at least ``count`` webhooks arrived (or ``timeout``); return them all."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
