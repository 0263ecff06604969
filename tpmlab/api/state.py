"""What one running practice API holds (config, store, counters, logs) and how a route reaches it.

:func:`tpmlab.api.app.create_app` builds one :class:`ApiState` per application and keeps it in
``app.state.api``; the gateway middleware gets the same object. Routes reach it through the
request (``api_state(request)``), never through a module global, so two applications in one
process (a test's and a notebook's) share no data, rate-limit buckets, idempotency records,
webhooks or fault sequence.
"""

import itertools
import json
import time
from typing import Any

from fastapi import Request

from tpmlab.api.config import ApiConfig
from tpmlab.api.gateway import FaultInjector, RateLimiter, RequestLog, RetryAfter
from tpmlab.api.models import API_VERSION, Webhook
from tpmlab.api.store import Store
from tpmlab.api.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    Dispatcher,
    sign,
)


class ApiState:
    """Everything one running API holds: config, data, counters, logs."""

    def __init__(self, config: ApiConfig, store: Store):
        self.config = config
        self.store = store
        self.log = RequestLog()
        self.limiter = RateLimiter()
        self.retry_after = RetryAfter()
        self.faults = FaultInjector(config.fault_seed)
        self.idempotency: dict[tuple[str, str], dict[str, Any]] = {}
        self.webhooks: dict[str, Webhook] = {}
        self._webhook_ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self.dispatcher = Dispatcher()

    def close(self) -> None:
        self.dispatcher.stop()
        self.store.close()

    # webhooks ---------------------------------------------------------------------------------
    def next_webhook_id(self) -> str:
        return f"wh_{next(self._webhook_ids)}"

    def emit(self, event_type: str, obj: dict[str, Any]) -> None:
        for hook in list(self.webhooks.values()):
            if event_type in hook.events or event_type == "ping":
                self.send(hook, event_type, obj)

    def send(self, hook: Webhook, event_type: str, obj: dict[str, Any]) -> None:
        event_id = f"evt_{next(self._event_ids):06d}"
        body = json.dumps(
            {"id": event_id, "type": event_type, "created": int(time.time()), "data": obj},
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Orbit-Webhooks/{API_VERSION}",
            SIGNATURE_HEADER: sign(body, self.config.webhook_secrets),
            EVENT_ID_HEADER: event_id,
            EVENT_TYPE_HEADER: event_type,
        }
        self.dispatcher.send(Delivery(hook.url, body, headers, event_id))


def api_state(request: Request) -> ApiState:
    """The state of the application that received ``request``."""
    return request.app.state.api
