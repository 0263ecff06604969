"""The ``users`` router: ``GET /v1/users`` (filtered, paginated) and ``GET /v1/users/{user_id}``."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from tpmlab.api.conditional import conditional_get
from tpmlab.api.dependencies import (
    ITEM_ERRORS,
    LIST_ERRORS,
    CursorParam,
    LimitParam,
    eq,
    read_users,
)
from tpmlab.api.models import MAX_ID, Channel, Page, Platform, User
from tpmlab.api.pagination import paginate
from tpmlab.api.problems import ProblemError
from tpmlab.api.render import user_out
from tpmlab.api.state import api_state

router = APIRouter(tags=["users"])


@router.get("/v1/users", response_model=Page[User], responses=LIST_ERRORS)
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
        eq("country", country and country.upper())
        + eq("platform", platform)
        + eq("channel", channel)
        + eq("workspace_id", workspace_id)
    )
    return paginate(request, "users", where, sort, limit, cursor, user_out)


@router.get("/v1/users/{user_id}", response_model=User, responses=ITEM_ERRORS)
async def get_user(
    request: Request,
    _: Annotated[str, Depends(read_users)],
    user_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    if_none_match: Annotated[str | None, Header()] = None,
):
    """One user. Scope: `users:read`. Supports `If-None-Match`."""
    row = api_state(request).store.get("users", user_id)
    if row is None:
        raise ProblemError("not-found", f"There is no user {user_id}.")
    return conditional_get(user_out(row), if_none_match)
