"""The practice API's settings: tokens and scopes, page sizes, rate limit, faults, webhook secret.

One :class:`ApiConfig` object configures a server. Tests and graders build their own (different
page sizes, a tight rate limit, a fault rate) and learners' code only ever sees the URL, so a
learner cannot change the conditions their client is graded under.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from tpmlab.errors import TPMLabError

READ_SCOPES = ("users:read", "projects:read", "tasks:read", "events:read")
WRITE_SCOPES = ("tasks:write", "webhooks:write")
ALL_SCOPES = READ_SCOPES + WRITE_SCOPES

#: The demo tokens printed by ``python -m tpmlab.api`` and used in the lessons.
READ_TOKEN = "orb_test_read_8f14e45f"
WRITE_TOKEN = "orb_test_write_c9f0f895"

DEFAULT_TOKENS: dict[str, tuple[str, ...]] = {READ_TOKEN: READ_SCOPES, WRITE_TOKEN: ALL_SCOPES}
RETRY_AFTER_FORMATS = ("seconds", "http-date", "alternate")
DEFAULT_WEBHOOK_SECRET = "whsec_orbit_practice_2f7c1a"


class ConfigError(TPMLabError):
    """A setting of the practice API is out of range."""


@dataclass
class ApiConfig:
    """Everything that makes one practice server behave differently from another.

    Attributes:
        tokens: bearer token -> the scopes it grants.
        default_page_size: items per page when the client sends no ``limit``.
        max_page_size: the server never returns more than this per page, whatever ``limit`` says.
        rate_limit: requests allowed per token per ``rate_window_s`` (None: no limit).
        rate_window_s: length of the fixed rate-limit window, in seconds.
        error_rate: share of API requests answered with an injected error (0 to 1).
        error_statuses: the statuses injected errors use, picked at random.
        faults_after_write: for POST/PATCH/DELETE, inject the error *after* the change is saved
            (like a timeout after the database commit), which is what makes blind retries
            of POST dangerous.
        latency_ms: delay added to every API request.
        slow_rate, slow_ms: share of requests that get ``slow_ms`` more delay (a slow tail).
        fault_seed: seed of the fault and latency dice, so runs are reproducible.
        retry_after_s: Retry-After sent with injected 503s.
        retry_after_format: how ``Retry-After`` is written (RFC 9110 section 10.2.3 allows both
            forms): ``"seconds"`` (``Retry-After: 2``), ``"http-date"``
            (``Retry-After: Tue, 01 Dec 2026 12:00:03 GMT``, the instant rounded up to the whole
            second), or ``"alternate"`` (seconds, then a date, then seconds... per server, so a
            client that only parses seconds fails on the second one, reproducibly).
        webhook_secret: secret(s) used to sign webhooks; several while rotating.
        require_idempotency_key: reject POST /v1/tasks without an Idempotency-Key.
        require_if_match: answer 428 Precondition Required (RFC 6585 section 3) to a PATCH or
            DELETE of a task without ``If-Match``, so no client can overwrite a change unseen.
        idempotency_ttl_s: how long a key is remembered.
        api_user_id: the user id recorded as ``created_by`` for tasks made through the API.
    """

    tokens: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_TOKENS))
    default_page_size: int = 20
    max_page_size: int = 100
    rate_limit: int | None = 1000
    rate_window_s: float = 60.0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 503)
    faults_after_write: bool = True
    latency_ms: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 0.0
    fault_seed: int = 0
    retry_after_s: int = 1
    retry_after_format: str = "alternate"
    webhook_secret: str | tuple[str, ...] = DEFAULT_WEBHOOK_SECRET
    require_idempotency_key: bool = False
    require_if_match: bool = False
    idempotency_ttl_s: float = 24 * 3600
    api_user_id: int = 1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"Practice API setting `{name}` {why}.", "Fix the value and retry.")

        if not 1 <= self.default_page_size <= self.max_page_size:
            raise bad("default_page_size", "must be between 1 and max_page_size")
        if self.max_page_size > 1000:
            raise bad("max_page_size", "must be at most 1000")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise bad("rate_limit", "must be a positive number of requests, or None")
        if self.rate_window_s <= 0:
            raise bad("rate_window_s", "must be positive")
        for name in ("error_rate", "slow_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise bad(name, "must be a share between 0 and 1")
        if any(not 500 <= s <= 599 for s in self.error_statuses) or not self.error_statuses:
            raise bad("error_statuses", "must list 5xx statuses such as (500, 503)")
        if self.retry_after_format not in RETRY_AFTER_FORMATS:
            raise bad("retry_after_format", f"must be one of {', '.join(RETRY_AFTER_FORMATS)}")
        if self.latency_ms < 0 or self.slow_ms < 0:
            raise bad("latency_ms", "and slow_ms must not be negative")
        self.tokens = {str(t): tuple(s) for t, s in self.tokens.items()}
        if isinstance(self.webhook_secret, list):
            self.webhook_secret = tuple(self.webhook_secret)

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        s = self.webhook_secret
        return (s,) if isinstance(s, str) else tuple(s)

    def updated(self, **changes: Any) -> ApiConfig:
        """A copy with ``changes`` applied (and checked)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(
                f"Unknown practice API setting(s): {', '.join(sorted(unknown))}.",
                f"Use one of: {', '.join(sorted(known))}.",
            )
        return replace(self, **changes)
