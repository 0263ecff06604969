"""``Idempotency-Key`` on POST (IETF httpapi draft): a retry replays the first response.

Records are kept per application (in :class:`tpmlab.api.state.ApiState`) and per (token, key)
for ``idempotency_ttl_s`` seconds. The same key with a different body is a 422; the same key
while the first request is still running is a 409; a request that failed validation is not
recorded, so the client may fix the body and retry with the same key.
"""

import hashlib
import json
import time
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse

from tpmlab.api.problems import ProblemError
from tpmlab.api.state import ApiState


def idempotent(
    state: ApiState,
    token: str,
    key: str,
    request: Request,
    body: dict,
    handler: Callable[[], JSONResponse],
) -> JSONResponse:
    """Run ``handler`` once per (token, key); replay its response for retries (IETF draft)."""
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.url.path, body], sort_keys=True).encode()
    ).hexdigest()
    now = time.monotonic()
    ttl = state.config.idempotency_ttl_s
    for k in [k for k, v in state.idempotency.items() if now - v["at"] > ttl]:
        del state.idempotency[k]
    record = state.idempotency.get((token, key))
    if record is not None:
        if record["fingerprint"] != fingerprint:
            raise ProblemError(
                "idempotency-key-reused",
                "This Idempotency-Key was already used for a different request body. Use a new "
                "key for each new request, and the same key only to retry the same request.",
            )
        if record["response"] is None:
            raise ProblemError(
                "idempotency-key-in-use",
                "The first request with this Idempotency-Key has not finished yet. Retry later.",
            )
        status, content, headers = record["response"]
        return JSONResponse(
            content, status_code=status, headers={**headers, "Idempotent-Replayed": "true"}
        )
    record = {"fingerprint": fingerprint, "response": None, "at": now}
    state.idempotency[(token, key)] = record
    try:
        response = handler()
    except ProblemError:
        # Failed validation is not stored: the client may fix the body and retry with the key.
        del state.idempotency[(token, key)]
        raise
    headers = {k: v for k, v in response.headers.items() if k.lower() in {"location", "etag"}}
    record["response"] = (response.status_code, json.loads(response.body), headers)
    return response
