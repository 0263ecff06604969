"""Cursor pagination: opaque ``next_cursor`` values, the RFC 8288 ``Link: rel="next"`` header.

A cursor encodes the last item's sort value and id, plus a fingerprint of the request's path,
filters and sort order: a cursor sent with different filters is a 400 ``invalid-cursor`` problem,
not a silently wrong page. The page size is the client's ``limit`` capped at the server's
``max_page_size``.
"""

import hashlib
import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tpmlab.api.problems import ProblemError
from tpmlab.api.render import json_response
from tpmlab.api.state import api_state
from tpmlab.api.store import RESOURCES


def _query_fingerprint(path: str, where: list[tuple[str, Any]], sort: str) -> str:
    text = json.dumps([path, sorted((s, str(v)) for s, v in where), sort])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def encode_cursor(value: Any, item_id: int, fingerprint: str) -> str:
    raw = json.dumps({"v": value, "i": item_id, "q": fingerprint}, separators=(",", ":"))
    return urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(urlsafe_b64decode(padded.encode()))
        value, item_id, q = data["v"], int(data["i"]), data["q"]
    except Exception as exc:  # any garbage is the client's mistake
        raise ProblemError(
            "invalid-cursor",
            "The cursor could not be read. Pass back the `next_cursor` value exactly as "
            "you received it.",
        ) from exc
    if q != fingerprint:
        raise ProblemError(
            "invalid-cursor",
            "This cursor belongs to a request with different filters or sort order. Keep "
            "the same query parameters on every page and only change `cursor`.",
        )
    return value, item_id


def paginate(
    request: Request,
    resource: str,
    where: list[tuple[str, Any]],
    sort: str,
    limit: int | None,
    cursor: str | None,
    render: Callable[[dict], dict],
) -> JSONResponse:
    """One page of ``resource`` rows matching ``where``, as ``{"data": [...], "next_cursor"}``."""
    state = api_state(request)
    config = state.config
    size = min(limit or config.default_page_size, config.max_page_size)
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    fingerprint = _query_fingerprint(request.url.path, where, sort)
    after = decode_cursor(cursor, fingerprint) if cursor else None
    rows, more = state.store.page(resource, where, field, descending, size, after)
    next_cursor = None
    headers: dict[str, str] = {}
    if more and rows:
        res = RESOURCES[resource]
        last = rows[-1]
        next_cursor = encode_cursor(last[res.sortable[field]], last[res.id_column], fingerprint)
        next_url = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return json_response(
        {"data": [render(r) for r in rows], "next_cursor": next_cursor}, headers=headers
    )
