"""The ``tasks`` router (v1): list, read, create (idempotent), update and delete tasks.

Writes are conditional (``If-Match``) and emit webhook events; ``POST`` honours
``Idempotency-Key``. ``GET /v1/projects/{project_id}/tasks`` is the deprecated way to list a
project's tasks: it answers with ``Deprecation``, ``Sunset`` and ``Link`` headers.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from tpmlab.api.conditional import check_if_match, conditional_get, etag_of
from tpmlab.api.dependencies import (
    DATE_TIME,
    ITEM_ERRORS,
    LIST_ERRORS,
    CursorParam,
    LimitParam,
    eq,
    read_tasks,
    timestamp_param,
    write_tasks,
)
from tpmlab.api.idempotency import idempotent
from tpmlab.api.models import MAX_ID, Page, Priority, Status, TaskCreate, TaskUpdate, TaskV1
from tpmlab.api.pagination import paginate
from tpmlab.api.problems import ProblemError, error_responses
from tpmlab.api.render import json_response, task_v1
from tpmlab.api.state import api_state
from tpmlab.api.store import now_text

#: GET /v1/projects/{project_id}/tasks is deprecated in favour of GET /v1/tasks?project_id=.
DEPRECATION_HEADERS = {
    "Deprecation": "@1756684800",  # RFC 9745: a structured Date, 2025-09-01T00:00:00Z
    "Sunset": "Mon, 01 Mar 2027 00:00:00 GMT",  # RFC 8594: an HTTP-date
    "Link": '<https://api.orbit.example/docs/migrate/project-tasks>; rel="deprecation"; '
    'type="text/html", <https://api.orbit.example/docs/migrate/project-tasks>; rel="sunset"',
}
TaskSort = Literal["id", "-id", "created_at", "-created_at", "title", "-title"]

router = APIRouter(tags=["tasks"])


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
    """Dependency: the task list's filters (shared by v1 and v2) as ``where`` clauses."""
    where = (
        eq("project_id", project_id)
        + eq("status", status)
        + eq("priority", priority)
        + eq("assignee_id", assignee_id)
    )
    if created_after is not None:
        where.append(("created_at >= ?", timestamp_param("created_after", created_after)))
    if created_before is not None:
        where.append(("created_at < ?", timestamp_param("created_before", created_before)))
    return where


@dataclass(frozen=True)
class TaskListQuery:
    """What a task list asks for: filters, sort order and page (the same in v1 and v2)."""

    where: list[tuple[str, Any]]
    sort: str
    limit: int | None
    cursor: str | None

    def page(self, request: Request, render: Callable[[dict], dict]) -> JSONResponse:
        return paginate(request, "tasks", self.where, self.sort, self.limit, self.cursor, render)


async def task_list_query(
    where: Annotated[list, Depends(task_filters)],
    sort: TaskSort = "id",
    limit: LimitParam = None,
    cursor: CursorParam = None,
) -> TaskListQuery:
    """Dependency: the query string of ``GET /v1/tasks`` and ``GET /v2/tasks``."""
    return TaskListQuery(where, sort, limit, cursor)


def task_or_404(request: Request, task_id: int) -> dict:
    row = api_state(request).store.get("tasks", task_id)
    if row is None:
        raise ProblemError("not-found", f"There is no task {task_id}.")
    return row


async def task_row(request: Request, task_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict:
    """Dependency: the stored task of the path's ``task_id``, or a 404 problem."""
    return task_or_404(request, task_id)


TaskList = Annotated[TaskListQuery, Depends(task_list_query)]
TaskRow = Annotated[dict, Depends(task_row)]


@router.get("/v1/tasks", response_model=Page[TaskV1], responses=LIST_ERRORS)
async def list_tasks(request: Request, _: Annotated[str, Depends(read_tasks)], query: TaskList):
    """List tasks, filtered and sorted. Scope: `tasks:read`."""
    return query.page(request, task_v1)


@router.get(
    "/v1/projects/{project_id}/tasks",
    response_model=Page[TaskV1],
    responses=error_responses(400, 401, 403, 404, 422, 429),
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
    if not api_state(request).store.exists("projects", project_id):
        raise ProblemError("not-found", f"There is no project {project_id}.")
    where = eq("project_id", project_id) + eq("status", status)
    response = paginate(request, "tasks", where, sort, limit, cursor, task_v1)
    link = response.headers.get("Link")
    response.headers.update(DEPRECATION_HEADERS)
    if link:  # keep the pagination link next to the deprecation links
        response.headers["Link"] = f"{link}, {DEPRECATION_HEADERS['Link']}"
    return response


@router.get("/v1/tasks/{task_id}", response_model=TaskV1, responses=ITEM_ERRORS)
async def get_task(
    _: Annotated[str, Depends(read_tasks)],
    row: TaskRow,
    if_none_match: Annotated[str | None, Header()] = None,
):
    """One task, with an `ETag`. Send `If-None-Match` to get 304 if unchanged."""
    return conditional_get(task_v1(row), if_none_match)


@router.post(
    "/v1/tasks",
    response_model=TaskV1,
    status_code=201,
    responses=error_responses(400, 401, 403, 409, 422, 429),
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
    state = api_state(request)

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
        return json_response(
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
    return idempotent(state, token, idempotency_key, request, body.model_dump(), create)


@router.patch(
    "/v1/tasks/{task_id}",
    response_model=TaskV1,
    responses=error_responses(400, 401, 403, 404, 412, 422, 428, 429),
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
    state = api_state(request)
    current = task_v1(task_or_404(request, task_id))
    check_if_match(if_match, current, state.config.require_if_match)
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
    return json_response(rep, 200, {"ETag": etag_of(rep)})


@router.delete(
    "/v1/tasks/{task_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 412, 422, 428, 429),
)
async def delete_task(
    request: Request,
    _: Annotated[str, Depends(write_tasks)],
    task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    if_match: Annotated[str | None, Header()] = None,
):
    """Delete a task. Scope: `tasks:write`. Deleting twice gives 404 the second time."""
    state = api_state(request)
    current = task_v1(task_or_404(request, task_id))
    check_if_match(if_match, current, state.config.require_if_match)
    state.store.delete_task(task_id)
    state.emit("task.deleted", current)
    return Response(status_code=204)
