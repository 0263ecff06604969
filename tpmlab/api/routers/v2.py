"""The ``v2`` router: ``/v2/tasks``, the task representation's breaking change.

v2 replaces v1's ``assignee_id`` with an ``assignee`` object and serves RFC 3339 times; the
filters, sort orders and errors are v1's (shared from :mod:`tpmlab.api.routers.tasks`).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from tpmlab.api.conditional import conditional_get
from tpmlab.api.dependencies import ITEM_ERRORS, LIST_ERRORS, read_tasks
from tpmlab.api.models import Page, TaskV2
from tpmlab.api.render import task_v2
from tpmlab.api.routers.tasks import TaskList, TaskRow

router = APIRouter(tags=["v2"])


@router.get("/v2/tasks", response_model=Page[TaskV2], responses=LIST_ERRORS)
async def list_tasks_v2(request: Request, _: Annotated[str, Depends(read_tasks)], query: TaskList):
    """v2 of the task list: `assignee` object instead of `assignee_id`, RFC 3339 times."""
    return query.page(request, task_v2)


@router.get("/v2/tasks/{task_id}", response_model=TaskV2, responses=ITEM_ERRORS)
async def get_task_v2(
    _: Annotated[str, Depends(read_tasks)],
    row: TaskRow,
    if_none_match: Annotated[str | None, Header()] = None,
):
    """v2 of one task."""
    return conditional_get(task_v2(row), if_none_match)
