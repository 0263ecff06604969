"""Error responses of the practice API as RFC 9457 problem details (``application/problem+json``).

Every error the API returns has the same shape, so a client can handle errors in one place::

    {"type": "https://api.orbit.example/problems/validation-error",
     "title": "Your request is not valid", "status": 422,
     "detail": "1 field is invalid", "instance": "/v1/tasks",
     "errors": [{"location": "body.title", "message": "Field required"}]}

``type`` identifies the kind of problem (a URI; clients switch on it, not on the English text),
``title`` is a fixed summary of that type, ``detail`` explains this occurrence. Extra members such
as ``errors`` or ``retry_after`` are RFC 9457 "extension members".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://api.orbit.example/problems/"

#: slug -> (status, title): the problem types this API uses (documented in the lessons).
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "malformed-request": (400, "The request body is not valid JSON"),
    "invalid-cursor": (400, "The pagination cursor is not valid for this request"),
    "idempotency-key-missing": (400, "This endpoint requires an Idempotency-Key header"),
    "unauthorized": (401, "Authentication required"),
    "forbidden": (403, "Your token does not have the scope this request needs"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "idempotency-key-in-use": (409, "A request with this Idempotency-Key is still in progress"),
    "precondition-failed": (412, "The resource has changed since you read it"),
    "precondition-required": (428, "This request must be conditional (send If-Match)"),
    "validation-error": (422, "Your request is not valid"),
    "idempotency-key-reused": (
        422,
        "This Idempotency-Key was already used with a different request",
    ),
    "rate-limited": (429, "Too many requests"),
    "internal-error": (500, "Internal server error"),
    "service-unavailable": (503, "Service temporarily unavailable"),
}


class Problem(BaseModel):
    """The problem-details object (documented in the OpenAPI document)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class ProblemError(Exception):
    """Raise inside a route to answer with a problem-details response."""

    def __init__(
        self,
        slug: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        **extensions: Any,
    ):
        default_status, self.title = PROBLEM_TYPES[slug]
        self.slug = slug
        self.status = status or default_status
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions
        super().__init__(detail or self.title)


def problem_body(
    slug: str, detail: str | None = None, instance: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """The JSON body of a problem of type ``slug``."""
    status, title = PROBLEM_TYPES[slug]
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return body


def problem_response(
    slug: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    status: int | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A ready-to-send ``application/problem+json`` response."""
    body = problem_body(slug, detail, instance, **extensions)
    if status is not None:
        body["status"] = status
    return JSONResponse(
        jsonable_encoder(body),
        status_code=body["status"],
        media_type=MEDIA_TYPE,
        headers=headers,
    )


_SLUG_FOR_STATUS = {status: slug for slug, (status, _) in reversed(PROBLEM_TYPES.items())}


async def _problem_error_handler(request: Request, exc: ProblemError) -> JSONResponse:
    return problem_response(
        exc.slug,
        exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        status=exc.status,
        **exc.extensions,
    )


async def _http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    slug = _SLUG_FOR_STATUS.get(exc.status_code, "internal-error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 404 and detail == "Not Found":
        detail = (
            f"There is no resource at {request.url.path}. Check the path against /openapi.json."
        )
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = (
            f"{request.method} is not supported at {request.url.path}. "
            f"Supported here: {', '.join(allowed)}."
        )
    return problem_response(
        slug, detail, instance=request.url.path, headers=headers, status=exc.status_code
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at this path (Starlette reports only the first route's)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in _every_route(request.app.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def _every_route(routes: list) -> Iterable:
    """The routes of an app and of the routers it includes.

    Since FastAPI 0.137 ``include_router`` adds one lazy entry per router to ``app.routes``
    instead of a copy of each route (fastapi/fastapi discussion 15791);
    ``fastapi.routing.iter_route_contexts`` lists the routes inside those entries.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # an older FastAPI: the included routes are already in ``app.routes``
        return routes
    return iter_route_contexts(routes)


def _location(loc: tuple | list) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in errors):
        return problem_response(
            "malformed-request",
            "The body could not be parsed as JSON. Send a JSON object with "
            "Content-Type: application/json.",
            instance=request.url.path,
        )
    items = [
        {"location": _location(err.get("loc", ())), "message": err.get("msg", "invalid")}
        for err in errors
    ]
    noun = "field is" if len(items) == 1 else "fields are"
    return problem_response(
        "validation-error",
        f"{len(items)} {noun} invalid: "
        + "; ".join(f"{it['location']}: {it['message']}" for it in items),
        instance=request.url.path,
        errors=items,
    )


def install(app) -> None:
    """Make every error of ``app`` (ours, FastAPI's and Starlette's) a problem-details response."""
    app.add_exception_handler(ProblemError, _problem_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)


#: OpenAPI ``responses`` entries for the error statuses, so the document shows the error shape.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {s: {"description": DESCRIPTIONS[s], "content": content} for s in statuses}


DESCRIPTIONS = {
    400: "Malformed request or invalid cursor",
    401: "Missing or invalid bearer token",
    403: "Token lacks the required scope",
    404: "Not found",
    409: "A request with the same Idempotency-Key is in progress",
    412: "If-Match did not match the current ETag",
    428: "If-Match is required (when the server is configured to require it)",
    422: "Validation error",
    429: "Rate limit exceeded. Sent by the gateway before the request is processed, so nothing "
    "was done and any method may be retried after Retry-After (seconds or an HTTP-date)",
    500: "Server error (may be injected by the fault switch)",
    503: "Temporarily unavailable; retry after Retry-After (seconds or an HTTP-date)",
}
