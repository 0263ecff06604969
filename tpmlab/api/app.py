"""The practice API: a FastAPI application serving Orbit's users, projects, tasks and events.

``create_app(config)`` builds one application. It behaves like a production API so the lessons
have something real to observe:

* bearer tokens with scopes: 401 without a valid token, 403 when the token lacks the scope;
* cursor pagination (opaque ``next_cursor`` + RFC 8288 ``Link: <...>; rel="next"``), filtering and
  sorting, with a server-side maximum page size;
* every error as RFC 9457 problem details (``application/problem+json``);
* rate limiting (429 + ``Retry-After``) and fault injection (see :mod:`tpmlab.api.gateway`);
* ``Idempotency-Key`` on POST (IETF httpapi draft): a retry replays the first response, the same key
  with a different body is rejected with 422;
* ``ETag`` and ``Cache-Control: private, no-cache`` on single resources (a cache may keep them but
  must revalidate), ``If-None-Match`` -> 304, ``If-Match`` mismatch -> 412, and optionally a
  missing ``If-Match`` -> 428 (RFC 6585);
* versioned paths: ``/v1`` and ``/v2`` (v2 changes the task representation: a breaking change);
  ``GET /v1/projects/{id}/tasks`` is deprecated: it answers with ``Deprecation`` (RFC 9745),
  ``Sunset`` (RFC 8594) and ``Link`` headers;
* webhooks signed with HMAC-SHA256 (see :mod:`tpmlab.api.webhooks`);
* an OpenAPI 3.1 document at ``/openapi.json``.

Routes are ``async`` and the store is in memory, so a server runs on a single thread. (No
``from __future__ import annotations`` here: FastAPI must see the real types of route parameters.)
"""

import hashlib
import itertools
import json
import time
from base64 import urlsafe_b64decode, urlsafe_b64encode
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from tpmlab.api import problems
from tpmlab.api.config import ApiConfig
from tpmlab.api.gateway import FaultInjector, Gateway, RateLimiter, RequestLog, RetryAfter
from tpmlab.api.problems import ProblemError, error_responses
from tpmlab.api.store import Store, now_text
from tpmlab.api.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    Dispatcher,
    sign,
)
from tpmlab.data.schema import EVENT_NAMES

API_VERSION = "1.4.0"
CACHE_CONTROL = "private, no-cache"  # RFC 9111: per-user data; reuse only after revalidating
#: GET /v1/projects/{project_id}/tasks is deprecated in favour of GET /v1/tasks?project_id=.
DEPRECATION_HEADERS = {
    "Deprecation": "@1756684800",  # RFC 9745: a structured Date, 2025-09-01T00:00:00Z
    "Sunset": "Mon, 01 Mar 2027 00:00:00 GMT",  # RFC 8594: an HTTP-date
    "Link": '<https://api.orbit.example/docs/migrate/project-tasks>; rel="deprecation"; '
    'type="text/html", <https://api.orbit.example/docs/migrate/project-tasks>; rel="sunset"',
}
MAX_ID = 2**63 - 1  # SQLite INTEGER range: larger ids are a 422, not a server error
T = TypeVar("T")

Status = Literal["todo", "in_progress", "done"]
Priority = Literal["low", "medium", "high"]
Platform = Literal["web", "ios", "android"]
Channel = Literal["organic", "paid_search", "paid_social", "referral", "partner"]
EventName = Literal[EVENT_NAMES]  # the same names as the dataset's events.event_name
WebhookEvent = Literal["task.created", "task.updated", "task.deleted"]


# ---------------------------------------------------------------------------------------------
# Representations
# ---------------------------------------------------------------------------------------------
class User(BaseModel):
    id: int
    signup_at: str = Field(description="UTC, `YYYY-MM-DD HH:MM:SS`")
    country: str
    platform: Platform
    channel: Channel
    workspace_id: int
    is_workspace_owner: bool


class Project(BaseModel):
    id: int
    workspace_id: int
    name: str
    created_by: int
    created_at: str
    archived: bool


class TaskV1(BaseModel):
    id: int
    project_id: int
    title: str
    created_by: int
    assignee_id: int | None
    status: Status
    priority: Priority
    created_at: str = Field(description="UTC, `YYYY-MM-DD HH:MM:SS`")
    completed_at: str | None


class UserRef(BaseModel):
    id: int
    href: str


class TaskV2(BaseModel):
    id: int
    project_id: int
    title: str
    created_by: int
    assignee: UserRef | None = Field(description="Replaces v1's `assignee_id`.")
    status: Status
    priority: Priority
    created_at: str = Field(description="RFC 3339, UTC, e.g. `2025-03-01T09:30:00Z`")
    completed_at: str | None


class Event(BaseModel):
    id: int
    user_id: int
    session_id: int | None
    time: str
    name: str
    platform: str | None
    project_id: int | None


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: int = Field(ge=1, le=MAX_ID)
    title: str = Field(min_length=1, max_length=200)
    priority: Priority = "medium"
    status: Status = "todo"
    assignee_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class TaskUpdate(BaseModel):
    """Send only the fields to change. ``assignee_id: null`` unassigns; the others cannot be null."""

    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    priority: Priority | SkipJsonSchema[None] = None
    status: Status | SkipJsonSchema[None] = None
    assignee_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://", max_length=2000)
    events: list[WebhookEvent] = Field(min_length=1)


class Webhook(BaseModel):
    id: str
    url: str
    events: list[WebhookEvent]
    created_at: str


class Health(BaseModel):
    status: str
    version: str


# ---------------------------------------------------------------------------------------------
# Server state
# ---------------------------------------------------------------------------------------------
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
    def emit(self, event_type: str, obj: dict[str, Any]) -> None:
        for hook in list(self.webhooks.values()):
            if event_type in hook.events or event_type == "ping":
                self._send(hook, event_type, obj)

    def _send(self, hook: Webhook, event_type: str, obj: dict[str, Any]) -> None:
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


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def _state(request: Request) -> ApiState:
    return request.app.state.api


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


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def _rfc3339(text: str | None) -> str | None:
    return None if text is None else text.replace(" ", "T") + "Z"


DATE_TIME = {
    "json_schema_extra": {"format": "date-time"},
    "examples": ["2025-03-01T00:00:00Z"],
}


def _timestamp_param(name: str, text: str) -> str:
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


def user_out(row: dict) -> dict:
    return {
        "id": row["user_id"],
        "signup_at": row["signup_at"],
        "country": row["country"],
        "platform": row["platform"],
        "channel": row["channel"],
        "workspace_id": row["workspace_id"],
        "is_workspace_owner": bool(row["is_workspace_owner"]),
    }


def project_out(row: dict) -> dict:
    return {
        "id": row["project_id"],
        "workspace_id": row["workspace_id"],
        "name": row["name"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "archived": bool(row["archived"]),
    }


def task_v1(row: dict) -> dict:
    return {
        "id": row["task_id"],
        "project_id": row["project_id"],
        "title": row["title"],
        "created_by": row["created_by"],
        "assignee_id": row["assignee_id"],
        "status": row["status"],
        "priority": row["priority"],
        "created_at": row["created_at"],
        "completed_at": row["completed_at"],
    }


def task_v2(row: dict) -> dict:
    assignee = row["assignee_id"]
    return {
        "id": row["task_id"],
        "project_id": row["project_id"],
        "title": row["title"],
        "created_by": row["created_by"],
        "assignee": None if assignee is None else {"id": assignee, "href": f"/v1/users/{assignee}"},
        "status": row["status"],
        "priority": row["priority"],
        "created_at": _rfc3339(row["created_at"]),
        "completed_at": _rfc3339(row["completed_at"]),
    }


def event_out(row: dict) -> dict:
    return {
        "id": row["event_id"],
        "user_id": row["user_id"],
        "session_id": row["session_id"],
        "time": row["event_time"],
        "name": row["event_name"],
        "platform": row["platform"],
        "project_id": row["project_id"],
    }


# -- cursors ----------------------------------------------------------------------------------
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
    render,
) -> JSONResponse:
    state = _state(request)
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
        from tpmlab.api.store import RESOURCES

        res = RESOURCES[resource]
        last = rows[-1]
        next_cursor = encode_cursor(last[res.sortable[field]], last[res.id_column], fingerprint)
        next_url = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return _json({"data": [render(r) for r in rows], "next_cursor": next_cursor}, headers=headers)


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


def _eq(column: str, value: Any) -> list[tuple[str, Any]]:
    return [] if value is None else [(f"{column} = ?", value)]


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
        tokens = _state(request).config.tokens
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

LIST_ERRORS = error_responses(400, 401, 403, 422, 429)
ITEM_ERRORS = error_responses(401, 403, 404, 422, 429)


# ---------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------
def create_app(config: ApiConfig | None = None, store: Store | None = None) -> FastAPI:
    """Build the practice API for ``config`` (defaults: :class:`ApiConfig`) and ``store``."""
    config = config or ApiConfig()
    store = store or Store()
    app = FastAPI(
        title="Orbit API (practice server)",
        version=API_VERSION,
        description="Orbit's public REST API as served by the TPM Skills Lab practice server. "
        "Errors are RFC 9457 problem details; lists use cursor pagination.",
        docs_url="/docs",
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query)],
    )
    state = ApiState(config, store)
    app.state.api = state
    problems.install(app)
    app.add_middleware(Gateway, state=state)

    read_users, read_projects = require("users:read"), require("projects:read")
    read_tasks, write_tasks = require("tasks:read"), require("tasks:write")
    read_events, write_hooks = require("events:read"), require("webhooks:write")

    @app.get("/health", response_model=Health, tags=["meta"])
    async def health() -> dict:
        """Liveness check. No token needed, not rate limited."""
        return {"status": "ok", "version": API_VERSION}

    # -- users ------------------------------------------------------------------------------
    @app.get("/v1/users", response_model=Page[User], responses=LIST_ERRORS, tags=["users"])
    async def list_users(
        request: Request,
        _: Annotated[str, Depends(read_users)],
        country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
        platform: Platform | None = None,
        channel: Channel | None = None,
        workspace_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        sort: Literal["id", "-id", "signup_at", "-signup_at"] = "id",
        limit: LimitParam = None,
        cursor: CursorParam = None,
    ):
        """List users. Scope: `users:read`."""
        where = (
            _eq("country", country and country.upper())
            + _eq("platform", platform)
            + _eq("channel", channel)
            + _eq("workspace_id", workspace_id)
        )
        return paginate(request, "users", where, sort, limit, cursor, user_out)

    @app.get("/v1/users/{user_id}", response_model=User, responses=ITEM_ERRORS, tags=["users"])
    async def get_user(
        request: Request,
        _: Annotated[str, Depends(read_users)],
        user_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        if_none_match: Annotated[str | None, Header()] = None,
    ):
        """One user. Scope: `users:read`. Supports `If-None-Match`."""
        row = request.app.state.api.store.get("users", user_id)
        if row is None:
            raise ProblemError("not-found", f"There is no user {user_id}.")
        return _conditional_get(user_out(row), if_none_match)

    # -- projects ---------------------------------------------------------------------------
    @app.get("/v1/projects", response_model=Page[Project], responses=LIST_ERRORS, tags=["projects"])
    async def list_projects(
        request: Request,
        _: Annotated[str, Depends(read_projects)],
        workspace_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        archived: bool | None = None,
        sort: Literal["id", "-id", "created_at", "-created_at", "name", "-name"] = "id",
        limit: LimitParam = None,
        cursor: CursorParam = None,
    ):
        """List projects. Scope: `projects:read`."""
        where = _eq("workspace_id", workspace_id) + _eq(
            "archived", None if archived is None else int(archived)
        )
        return paginate(request, "projects", where, sort, limit, cursor, project_out)

    @app.get(
        "/v1/projects/{project_id}",
        response_model=Project,
        responses=ITEM_ERRORS,
        tags=["projects"],
    )
    async def get_project(
        request: Request,
        _: Annotated[str, Depends(read_projects)],
        project_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        if_none_match: Annotated[str | None, Header()] = None,
    ):
        """One project. Scope: `projects:read`. Supports `If-None-Match`."""
        row = _state(request).store.get("projects", project_id)
        if row is None:
            raise ProblemError("not-found", f"There is no project {project_id}.")
        return _conditional_get(project_out(row), if_none_match)

    # -- tasks ------------------------------------------------------------------------------
    TaskSort = Literal["id", "-id", "created_at", "-created_at", "title", "-title"]

    async def task_filters(
        project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        status: Status | None = None,
        priority: Priority | None = None,
        assignee_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        created_after: Annotated[
            str | None, Query(description="Only tasks created at or after.", **DATE_TIME)
        ] = None,
        created_before: Annotated[
            str | None, Query(description="Only tasks created before.", **DATE_TIME)
        ] = None,
    ) -> list[tuple[str, Any]]:
        where = (
            _eq("project_id", project_id)
            + _eq("status", status)
            + _eq("priority", priority)
            + _eq("assignee_id", assignee_id)
        )
        if created_after is not None:
            where.append(("created_at >= ?", _timestamp_param("created_after", created_after)))
        if created_before is not None:
            where.append(("created_at < ?", _timestamp_param("created_before", created_before)))
        return where

    @app.get("/v1/tasks", response_model=Page[TaskV1], responses=LIST_ERRORS, tags=["tasks"])
    async def list_tasks(
        request: Request,
        _: Annotated[str, Depends(read_tasks)],
        where: Annotated[list, Depends(task_filters)],
        sort: TaskSort = "id",
        limit: LimitParam = None,
        cursor: CursorParam = None,
    ):
        """List tasks, filtered and sorted. Scope: `tasks:read`."""
        return paginate(request, "tasks", where, sort, limit, cursor, task_v1)

    @app.get(
        "/v1/projects/{project_id}/tasks",
        response_model=Page[TaskV1],
        responses=error_responses(400, 401, 403, 404, 422, 429),
        tags=["tasks"],
        deprecated=True,
    )
    async def list_project_tasks(
        request: Request,
        _: Annotated[str, Depends(read_tasks)],
        project_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        status: Status | None = None,
        sort: TaskSort = "id",
        limit: LimitParam = None,
        cursor: CursorParam = None,
    ):
        """The tasks of one project. Scope: `tasks:read`.

        Deprecated since 2025-09-01, removed on 2027-03-01: use `GET /v1/tasks?project_id=`.
        Responses carry `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and `Link` headers.
        """
        if not _state(request).store.exists("projects", project_id):
            raise ProblemError("not-found", f"There is no project {project_id}.")
        where = _eq("project_id", project_id) + _eq("status", status)
        response = paginate(request, "tasks", where, sort, limit, cursor, task_v1)
        link = response.headers.get("Link")
        response.headers.update(DEPRECATION_HEADERS)
        if link:  # keep the pagination link next to the deprecation links
            response.headers["Link"] = f"{link}, {DEPRECATION_HEADERS['Link']}"
        return response

    @app.get("/v1/tasks/{task_id}", response_model=TaskV1, responses=ITEM_ERRORS, tags=["tasks"])
    async def get_task(
        request: Request,
        _: Annotated[str, Depends(read_tasks)],
        task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        if_none_match: Annotated[str | None, Header()] = None,
    ):
        """One task, with an `ETag`. Send `If-None-Match` to get 304 if unchanged."""
        return _conditional_get(task_v1(_task_or_404(request, task_id)), if_none_match)

    @app.post(
        "/v1/tasks",
        response_model=TaskV1,
        status_code=201,
        responses=error_responses(400, 401, 403, 409, 422, 429),
        tags=["tasks"],
    )
    async def create_task(
        request: Request,
        body: TaskCreate,
        token: Annotated[str, Depends(write_tasks)],
        idempotency_key: Annotated[
            str | None,
            Header(
                min_length=1,
                max_length=255,
                description="A unique value (e.g. a UUID) per logical request. Retrying with "
                "the same key returns the first response instead of creating a duplicate.",
            ),
        ] = None,
    ):
        """Create a task. Scope: `tasks:write`. Send an `Idempotency-Key` to retry safely."""
        state = _state(request)

        def create() -> JSONResponse:
            if not state.store.exists("projects", body.project_id):
                raise ProblemError(
                    "validation-error",
                    f"project_id {body.project_id} does not exist.",
                    errors=[{"location": "body.project_id", "message": "unknown project"}],
                )
            if body.assignee_id is not None and not state.store.exists("users", body.assignee_id):
                raise ProblemError(
                    "validation-error",
                    f"assignee_id {body.assignee_id} does not exist.",
                    errors=[{"location": "body.assignee_id", "message": "unknown user"}],
                )
            fields = body.model_dump()
            fields["created_by"] = state.config.api_user_id
            fields["completed_at"] = now_text() if body.status == "done" else None
            rep = task_v1(state.store.create_task(fields))
            state.emit("task.created", rep)
            return _json(
                rep,
                201,
                {"Location": f"/v1/tasks/{rep['id']}", "ETag": etag_of(rep)},
            )

        if idempotency_key is None:
            if state.config.require_idempotency_key:
                raise ProblemError(
                    "idempotency-key-missing",
                    "Send an `Idempotency-Key` header (for example a fresh UUID) with every POST.",
                )
            return create()
        return _idempotent(state, token, idempotency_key, request, body.model_dump(), create)

    @app.patch(
        "/v1/tasks/{task_id}",
        response_model=TaskV1,
        responses=error_responses(400, 401, 403, 404, 412, 422, 428, 429),
        tags=["tasks"],
    )
    async def update_task(
        request: Request,
        body: TaskUpdate,
        _: Annotated[str, Depends(write_tasks)],
        task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        if_match: Annotated[
            str | None,
            Header(description="The ETag you read; the update fails with 412 if it changed."),
        ] = None,
    ):
        """Change some fields of a task. Scope: `tasks:write`. Supports `If-Match`."""
        state = _state(request)
        current = task_v1(_task_or_404(request, task_id))
        _check_if_match(if_match, current, state.config.require_if_match)
        changes = body.model_dump(exclude_unset=True)
        new_assignee = changes.get("assignee_id")
        if new_assignee is not None and not state.store.exists("users", new_assignee):
            raise ProblemError(
                "validation-error",
                f"assignee_id {changes['assignee_id']} does not exist.",
                errors=[{"location": "body.assignee_id", "message": "unknown user"}],
            )
        for key in ("title", "priority", "status"):
            if key in changes and changes[key] is None:
                raise ProblemError(
                    "validation-error",
                    f"{key} cannot be null.",
                    errors=[{"location": f"body.{key}", "message": "cannot be null"}],
                )
        if "status" in changes and changes["status"] != current["status"]:
            changes["completed_at"] = now_text() if changes["status"] == "done" else None
        rep = task_v1(state.store.update_task(task_id, changes))
        if rep != current:
            state.emit("task.updated", rep)
        return _json(rep, 200, {"ETag": etag_of(rep)})

    @app.delete(
        "/v1/tasks/{task_id}",
        status_code=204,
        response_class=Response,
        responses=error_responses(401, 403, 404, 412, 422, 428, 429),
        tags=["tasks"],
    )
    async def delete_task(
        request: Request,
        _: Annotated[str, Depends(write_tasks)],
        task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        if_match: Annotated[str | None, Header()] = None,
    ):
        """Delete a task. Scope: `tasks:write`. Deleting twice gives 404 the second time."""
        state = _state(request)
        current = task_v1(_task_or_404(request, task_id))
        _check_if_match(if_match, current, state.config.require_if_match)
        state.store.delete_task(task_id)
        state.emit("task.deleted", current)
        return Response(status_code=204)

    # -- events -----------------------------------------------------------------------------
    @app.get("/v1/events", response_model=Page[Event], responses=LIST_ERRORS, tags=["events"])
    async def list_events(
        request: Request,
        _: Annotated[str, Depends(read_events)],
        user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        name: EventName | None = None,
        project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        since: Annotated[str | None, Query(description="event_time >= since", **DATE_TIME)] = None,
        until: Annotated[str | None, Query(description="event_time < until", **DATE_TIME)] = None,
        sort: Literal["id", "-id"] = "id",
        limit: LimitParam = None,
        cursor: CursorParam = None,
    ):
        """Product events (read only). Scope: `events:read`."""
        where = _eq("user_id", user_id) + _eq("event_name", name) + _eq("project_id", project_id)
        if since is not None:
            where.append(("event_time >= ?", _timestamp_param("since", since)))
        if until is not None:
            where.append(("event_time < ?", _timestamp_param("until", until)))
        return paginate(request, "events", where, sort, limit, cursor, event_out)

    # -- webhooks ---------------------------------------------------------------------------
    @app.post(
        "/v1/webhooks",
        response_model=Webhook,
        status_code=201,
        responses=error_responses(400, 401, 403, 422, 429),
        tags=["webhooks"],
    )
    async def create_webhook(
        request: Request, body: WebhookCreate, _: Annotated[str, Depends(write_hooks)]
    ):
        """Subscribe a URL to task events. Deliveries carry an `Orbit-Signature` header."""
        state = _state(request)
        hook = Webhook(
            id=f"wh_{next(state._webhook_ids)}",
            url=body.url,
            events=body.events,
            created_at=now_text(),
        )
        state.webhooks[hook.id] = hook
        return _json(hook.model_dump(), 201, {"Location": f"/v1/webhooks/{hook.id}"})

    @app.get(
        "/v1/webhooks",
        response_model=list[Webhook],
        responses=error_responses(401, 403, 429),
        tags=["webhooks"],
    )
    async def list_webhooks(request: Request, _: Annotated[str, Depends(write_hooks)]):
        """Your webhook subscriptions. Scope: `webhooks:write`."""
        return [h.model_dump() for h in _state(request).webhooks.values()]

    @app.post(
        "/v1/webhooks/{webhook_id}/ping",
        status_code=202,
        responses=error_responses(401, 403, 404, 429),
        tags=["webhooks"],
    )
    async def ping_webhook(
        request: Request,
        _: Annotated[str, Depends(write_hooks)],
        webhook_id: Annotated[str, Path(max_length=50)],
    ) -> dict:
        """Send a signed `ping` event to the subscription's URL."""
        state = _state(request)
        hook = state.webhooks.get(webhook_id)
        if hook is None:
            raise ProblemError("not-found", f"There is no webhook {webhook_id}.")
        state._send(hook, "ping", {"webhook_id": hook.id})
        return {"queued": True}

    @app.delete(
        "/v1/webhooks/{webhook_id}",
        status_code=204,
        response_class=Response,
        responses=error_responses(401, 403, 404, 429),
        tags=["webhooks"],
    )
    async def delete_webhook(
        request: Request,
        _: Annotated[str, Depends(write_hooks)],
        webhook_id: Annotated[str, Path(max_length=50)],
    ):
        """Unsubscribe."""
        if _state(request).webhooks.pop(webhook_id, None) is None:
            raise ProblemError("not-found", f"There is no webhook {webhook_id}.")
        return Response(status_code=204)

    # -- v2 ---------------------------------------------------------------------------------
    @app.get("/v2/tasks", response_model=Page[TaskV2], responses=LIST_ERRORS, tags=["v2"])
    async def list_tasks_v2(
        request: Request,
        _: Annotated[str, Depends(read_tasks)],
        where: Annotated[list, Depends(task_filters)],
        sort: TaskSort = "id",
        limit: LimitParam = None,
        cursor: CursorParam = None,
    ):
        """v2 of the task list: `assignee` object instead of `assignee_id`, RFC 3339 times."""
        return paginate(request, "tasks", where, sort, limit, cursor, task_v2)

    @app.get("/v2/tasks/{task_id}", response_model=TaskV2, responses=ITEM_ERRORS, tags=["v2"])
    async def get_task_v2(
        request: Request,
        _: Annotated[str, Depends(read_tasks)],
        task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        if_none_match: Annotated[str | None, Header()] = None,
    ):
        """v2 of one task."""
        return _conditional_get(task_v2(_task_or_404(request, task_id)), if_none_match)

    def custom_openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = problems.Problem.model_json_schema()
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            _document_common_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app


def _document_common_errors(schema: dict) -> None:
    """Every API operation can meet auth, validation, rate-limit and injected 5xx errors."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(("/v1/", "/v2/")):
            continue
        for method, op in item.items():
            common = [401, 403, 422, 429, 500, 503]
            if method in ("post", "put", "patch"):
                common.append(400)
            responses = op.setdefault("responses", {})
            for status in common:
                entry = responses.setdefault(str(status), {})
                entry["description"] = entry.get("description") or problems.DESCRIPTIONS[status]
                entry["content"] = {
                    problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }


def _task_or_404(request: Request, task_id: int) -> dict:
    row = _state(request).store.get("tasks", task_id)
    if row is None:
        raise ProblemError("not-found", f"There is no task {task_id}.")
    return row


def _conditional_get(rep: dict, if_none_match: str | None) -> Response:
    etag = etag_of(rep)
    if if_none_match and if_none_match.strip() and _weak_match(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})
    return _json(rep, 200, {"ETag": etag, "Cache-Control": CACHE_CONTROL})


def _check_if_match(if_match: str | None, current: dict, required: bool = False) -> None:
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


def _idempotent(
    state: ApiState, token: str, key: str, request: Request, body: dict, handler
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
