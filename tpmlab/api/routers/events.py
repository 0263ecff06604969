"""The ``events`` router: ``GET /v1/events``, Orbit's product events (read only, paginated)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from tpmlab.api.dependencies import (
    DATE_TIME,
    LIST_ERRORS,
    CursorParam,
    LimitParam,
    eq,
    read_events,
    timestamp_param,
)
from tpmlab.api.models import MAX_ID, Event, EventName, Page
from tpmlab.api.pagination import paginate
from tpmlab.api.render import event_out

router = APIRouter(tags=["events"])


@router.get("/v1/events", response_model=Page[Event], responses=LIST_ERRORS)
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
    where = eq("user_id", user_id) + eq("event_name", name) + eq("project_id", project_id)
    if since is not None:
        where.append(("event_time >= ?", timestamp_param("since", since)))
    if until is not None:
        where.append(("event_time < ?", timestamp_param("until", until)))
    return paginate(request, "events", where, sort, limit, cursor, event_out)
