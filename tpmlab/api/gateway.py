"""What sits in front of the practice API's routes: request log, rate limiting, fault injection.

In production these jobs belong to an API gateway or middleware; here they are one Starlette
middleware so the behaviour is easy to read and to configure per server:

* every request to ``/v1`` or ``/v2`` is recorded in :class:`RequestLog` (tests and graders read it
  to see what a client actually sent: how many retries, how long it waited, which headers);
* :class:`RateLimiter` counts requests per token in fixed windows and answers 429 with
  ``Retry-After`` when a token goes over (RFC 6585, RFC 9110 section 10.2.3). ``Retry-After`` is
  either a number of seconds or an HTTP-date, as RFC 9110 allows; :class:`RetryAfter` writes it
  in the form the config asks for (by default alternating, so clients meet both);
* :class:`FaultInjector` adds latency and answers some requests with 5xx errors, at a seeded
  random rate or from a script (``fail_next``). For unsafe methods the error can be injected
  *after* the change was saved, like a timeout after the commit.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import math
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from tpmlab.api.config import ApiConfig
from tpmlab.api.problems import problem_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


@dataclass
class RequestRecord:
    """One request as the server saw it."""

    time: float  # wall-clock arrival (time.time())
    method: str
    path: str
    query: str
    status: int
    token: str | None
    idempotency_key: str | None
    if_none_match: str | None
    if_match: str | None
    injected: str | None  # "error", "error-after-write", "rate-limited" or None
    duration_ms: float
    request_id: str


class RequestLog:
    """Thread-safe list of :class:`RequestRecord` (the server appends, tests read)."""

    def __init__(self) -> None:
        self._items: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._items.append(record)

    def records(
        self, method: str | None = None, path: str | None = None, token: str | None = None
    ) -> list[RequestRecord]:
        """Records, optionally only one method, path prefix or token."""
        with self._lock:
            items = list(self._items)
        return [
            r
            for r in items
            if (method is None or r.method == method.upper())
            and (path is None or r.path.startswith(path))
            and (token is None or r.token == token)
        ]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class RateLimiter:
    """Fixed-window counter per key (the bearer token, or the client address without one)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._windows: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def hit(self, key: str, limit: int, window_s: float) -> tuple[bool, int, float]:
        """Count one request; return (allowed, remaining, seconds until the window resets)."""
        now = self._clock()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= window_s:
                start, count = now, 0
            reset = max(0.0, start + window_s - now)
            if count >= limit:
                self._windows[key] = [start, count]
                return False, 0, reset
            count += 1
            self._windows[key] = [start, count]
            return True, int(limit - count), reset

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class RetryAfter:
    """Writes ``Retry-After`` values: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3).

    The form follows ``config.retry_after_format``; with ``"alternate"`` the n-th value this
    server writes is seconds for even n and a date for odd n (deterministic, no dice). A date has
    one-second resolution, so it is rounded *up*: waiting until it never waits too little.
    """

    def __init__(self, clock=time.time) -> None:
        self._count = itertools.count()
        self._lock = threading.Lock()
        self._clock = clock

    def value(self, seconds: int, form: str) -> str:
        with self._lock:
            n = next(self._count)
        if form == "seconds" or (form == "alternate" and n % 2 == 0):
            return str(int(seconds))
        return email.utils.formatdate(math.ceil(self._clock() + seconds), usegmt=True)


@dataclass
class ScriptedFault:
    status: int
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.startswith(self.path)
        )


class FaultInjector:
    """Seeded dice for injected errors and latency, plus a queue of scripted errors."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._script: deque[ScriptedFault] = deque()
        self._lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def fail_next(self, *statuses: int, method: str | None = None, path: str | None = None):
        with self._lock:
            for status in statuses:
                self._script.append(ScriptedFault(int(status), method and method.upper(), path))

    def clear_script(self) -> None:
        with self._lock:
            self._script.clear()

    def decide(self, config: ApiConfig, method: str, path: str) -> tuple[int | None, float]:
        """(status to inject or None, delay in seconds) for one request."""
        with self._lock:
            status = None
            for i, fault in enumerate(self._script):
                if fault.matches(method, path):
                    status = fault.status
                    del self._script[i]
                    break
            # Always draw the same number of random numbers per request, so a seed gives the
            # same sequence of faults whatever the script did.
            u_error, u_status, u_slow = self._rng.random(), self._rng.random(), self._rng.random()
            if status is None and u_error < config.error_rate:
                statuses = config.error_statuses
                status = statuses[min(int(u_status * len(statuses)), len(statuses) - 1)]
            delay_ms = config.latency_ms + (config.slow_ms if u_slow < config.slow_rate else 0.0)
        return status, delay_ms / 1000.0


class Gateway(BaseHTTPMiddleware):
    """Request log, rate limit and faults for every request under /v1 and /v2."""

    def __init__(self, app, state) -> None:
        super().__init__(app)
        self.state = state  # tpmlab.api.state.ApiState

    async def dispatch(self, request: Request, call_next) -> Response:
        path = request.url.path
        if not (path.startswith("/v1/") or path.startswith("/v2/")):
            return await call_next(request)
        state = self.state
        config: ApiConfig = state.config
        arrived, started = time.time(), time.perf_counter()
        method = request.method.upper()
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        request_id = uuid.uuid4().hex[:16]
        injected = None
        limit_headers: dict[str, str] = {}

        allowed = True
        if config.rate_limit is not None:
            key = token or f"addr:{request.client.host if request.client else '?'}"
            allowed, remaining, reset = state.limiter.hit(
                key, config.rate_limit, config.rate_window_s
            )
            limit_headers = {
                "RateLimit-Limit": str(config.rate_limit),
                "RateLimit-Remaining": str(remaining),
                "RateLimit-Reset": str(math.ceil(reset)),
            }
        if not allowed:
            retry_after = max(1, math.ceil(reset))
            injected = "rate-limited"
            response = problem_response(
                "rate-limited",
                f"This token may send {config.rate_limit} requests every "
                f"{config.rate_window_s:g} s. Wait {retry_after} s (the Retry-After header) "
                "before sending another request.",
                instance=path,
                headers={
                    "Retry-After": state.retry_after.value(retry_after, config.retry_after_format)
                },
                retry_after=retry_after,
            )
        else:
            status, delay = state.faults.decide(config, method, path)
            if delay > 0:
                await asyncio.sleep(delay)
            after_write = config.faults_after_write and method not in SAFE_METHODS
            if status is not None and not after_write:
                injected = "error"
                response = self._fault(status, path, config, state.retry_after)
            else:
                response = await call_next(request)
                if status is not None:
                    # The change was applied; the client only sees the error.
                    async for _ in response.body_iterator:  # drain the discarded body
                        pass
                    injected = "error-after-write"
                    response = self._fault(status, path, config, state.retry_after)
        for name, value in limit_headers.items():
            response.headers.setdefault(name, value)
        response.headers["X-Request-Id"] = request_id
        state.log.append(
            RequestRecord(
                time=arrived,
                method=method,
                path=path,
                query=request.url.query,
                status=response.status_code,
                token=token,
                idempotency_key=request.headers.get("idempotency-key"),
                if_none_match=request.headers.get("if-none-match"),
                if_match=request.headers.get("if-match"),
                injected=injected,
                duration_ms=(time.perf_counter() - started) * 1000.0,
                request_id=request_id,
            )
        )
        return response

    @staticmethod
    def _fault(status: int, path: str, config: ApiConfig, retry_after: RetryAfter) -> Response:
        headers = {}
        if status == 503:
            headers["Retry-After"] = retry_after.value(
                config.retry_after_s, config.retry_after_format
            )
            slug = "service-unavailable"
        else:
            slug = "internal-error"
        return problem_response(
            slug,
            "Injected fault: the practice server's fault switch is on. A real API fails like "
            "this now and then; a good client retries when it is safe to.",
            instance=path,
            headers=headers,
            status=status,
        )
