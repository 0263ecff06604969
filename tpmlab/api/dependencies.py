"""The dependencies and parameters every router shares: bearer scopes, query checks, filters.

* :func:`require` builds a dependency that admits a bearer token with one scope (401 without a
  valid token, 403 without the scope); the six scoped dependencies below are built once, since
  they read the tokens from the request's own application, never from a global;
* :func:`reject_unknown_query` runs on every operation (``create_app`` installs it on the app):
  ``?limt=5`` is a 422, not a silently ignored typo;
* ``LimitParam``, ``CursorParam``, ``DATE_TIME``, :func:`timestamp_param` and :func:`eq` are the
  pieces of the list operations' query strings;
* ``LIST_ERRORS`` and ``ITEM_ERRORS`` are the documented error responses of a list and of one item.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tpmlab.api.problems import ProblemError, error_responses
from tpmlab.api.state import api_state

# ---------------------------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------------------------
bearer = HTTPBearer(
    auto_error=False,
    description="Send `Authorization: Bearer <token>`. Each token grants scopes such as "
    "`tasks:read` or `tasks:write`.",
)


def require(scope: str):
    """Dependency: a valid bearer token that grants ``scope``; returns the token."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        tokens = api_state(request).config.tokens
        if credentials is None:
            raise ProblemError(
                "unauthorized",
                "No bearer token was sent. Add the header `Authorization: Bearer <token>`.",
                headers={"WWW-Authenticate": 'Bearer realm="orbit"'},
            )
        token = credentials.credentials
        if token not in tokens:
            raise ProblemError(
                "unauthorized",
                "The bearer token is not valid (mistyped, revoked or from another environment).",
                headers={"WWW-Authenticate": 'Bearer realm="orbit", error="invalid_token"'},
            )
        if scope not in tokens[token]:
            raise ProblemError(
                "forbidden",
                f"This request needs the `{scope}` scope, which your token does not have. "
                "Use a token that grants it; sending the same token again will not help.",
                headers={
                    "WWW-Authenticate": f'Bearer realm="orbit", error="insufficient_scope", '
                    f'scope="{scope}"'
                },
                required_scope=scope,
            )
        return token

    return dependency


read_users, read_projects = require("users:read"), require("projects:read")
read_tasks, write_tasks = require("tasks:read"), require("tasks:write")
read_events, write_hooks = require("events:read"), require("webhooks:write")


# ---------------------------------------------------------------------------------------------
# Query strings
# ---------------------------------------------------------------------------------------------
def _query_names(dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def reject_unknown_query(request: Request) -> None:
    """422 for query parameters the operation does not define (``limt=5`` is a typo, not a no-op)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ProblemError(
            "validation-error",
            f"Unknown query parameter(s): {', '.join(unknown)}. This operation accepts: "
            f"{', '.join(sorted(known)) or 'none'}.",
            errors=[
                {"location": f"query.{name}", "message": "unknown parameter"} for name in unknown
            ],
        )


LimitParam = Annotated[
    int | None,
    Query(
        ge=1,
        le=1000,
        description="Items per page. The server caps it at its maximum page size (100 by "
        "default), so a page can hold fewer items than you asked for.",
    ),
]
CursorParam = Annotated[
    str | None, Query(description="The `next_cursor` of the previous page.", max_length=500)
]

DATE_TIME = {
    "json_schema_extra": {"format": "date-time"},
    "examples": ["2025-03-01T00:00:00Z"],
}


def timestamp_param(name: str, text: str) -> str:
    """An ISO 8601 / RFC 3339 query value as the dataset's UTC text, or a 422 problem."""
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ProblemError(
            "validation-error",
            f"{name} must be a date-time like 2025-03-01T00:00:00Z, not {text!r}.",
            errors=[{"location": f"query.{name}", "message": "not an ISO 8601 date-time"}],
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def eq(column: str, value: Any) -> list[tuple[str, Any]]:
    """A ``column = ?`` filter, or no filter when the parameter was not sent."""
    return [] if value is None else [(f"{column} = ?", value)]


LIST_ERRORS = error_responses(400, 401, 403, 422, 429)
ITEM_ERRORS = error_responses(401, 403, 404, 422, 429)
