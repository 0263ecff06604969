"""The ``projects`` router: ``GET /v1/projects`` and ``GET /v1/projects/{project_id}``.

A project's tasks (``GET /v1/projects/{project_id}/tasks``, deprecated) are in the tasks router.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from tpmlab.api.conditional import conditional_get
from tpmlab.api.dependencies import (
    ITEM_ERRORS,
    LIST_ERRORS,
    CursorParam,
    LimitParam,
    eq,
    read_projects,
)
from tpmlab.api.models import MAX_ID, Page, Project
from tpmlab.api.pagination import paginate
from tpmlab.api.problems import ProblemError
from tpmlab.api.render import project_out
from tpmlab.api.state import api_state

router = APIRouter(tags=["projects"])


@router.get("/v1/projects", response_model=Page[Project], responses=LIST_ERRORS)
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
    where = eq("workspace_id", workspace_id) + eq(
        "archived", None if archived is None else int(archived)
    )
    return paginate(request, "projects", where, sort, limit, cursor, project_out)


@router.get("/v1/projects/{project_id}", response_model=Project, responses=ITEM_ERRORS)
async def get_project(
    request: Request,
    _: Annotated[str, Depends(read_projects)],
    project_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    if_none_match: Annotated[str | None, Header()] = None,
):
    """One project. Scope: `projects:read`. Supports `If-None-Match`."""
    row = api_state(request).store.get("projects", project_id)
    if row is None:
        raise ProblemError("not-found", f"There is no project {project_id}.")
    return conditional_get(project_out(row), if_none_match)
