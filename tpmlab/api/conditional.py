"""Conditional requests (RFC 9110 section 13): ETags, ``If-None-Match`` -> 304, ``If-Match`` -> 412.

A single resource is served with a strong ``ETag`` (a hash of its canonical JSON) and
``Cache-Control: private, no-cache`` (RFC 9111: a cache may keep per-user data but must
revalidate). ``If-None-Match`` uses the weak comparison, ``If-Match`` the strong one, and a server
configured with ``require_if_match`` answers a change without ``If-Match`` with 428 (RFC 6585).
"""

import hashlib
import json
from typing import Any

from fastapi import Response

from tpmlab.api.problems import ProblemError
from tpmlab.api.render import json_response

CACHE_CONTROL = "private, no-cache"  # RFC 9111: per-user data; reuse only after revalidating


def etag_of(representation: dict[str, Any]) -> str:
    """A strong ETag: a hash of the representation's canonical JSON."""
    digest = hashlib.sha256(
        json.dumps(representation, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return f'"{digest[:20]}"'


def _etags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _weak_match(header: str, etag: str) -> bool:
    strip = lambda t: t[2:] if t.startswith("W/") else t  # noqa: E731
    return any(t == "*" or strip(t) == strip(etag) for t in _etags(header))


def _strong_match(header: str, etag: str) -> bool:
    return any(t == "*" or (not t.startswith("W/") and t == etag) for t in _etags(header))


def conditional_get(rep: dict, if_none_match: str | None) -> Response:
    """``rep`` with its ETag, or an empty 304 when ``If-None-Match`` names that ETag."""
    etag = etag_of(rep)
    if if_none_match and if_none_match.strip() and _weak_match(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})
    return json_response(rep, 200, {"ETag": etag, "Cache-Control": CACHE_CONTROL})


def check_if_match(if_match: str | None, current: dict, required: bool = False) -> None:
    """Raise 412 when ``If-Match`` is stale, 428 when it is missing and ``required``."""
    if if_match is None or not if_match.strip():  # an empty header is no precondition
        if required:
            raise ProblemError(
                "precondition-required",
                "This server only changes a task you prove you have seen: GET it, then send its "
                "ETag in `If-Match` (RFC 6585 section 3, 428 Precondition Required).",
            )
        return
    etag = etag_of(current)
    if not _strong_match(if_match, etag):
        raise ProblemError(
            "precondition-failed",
            "Someone changed this task after you read it (your If-Match ETag is out of date). "
            "GET it again, re-apply your change, and send the new ETag.",
            current_etag=etag,
        )
