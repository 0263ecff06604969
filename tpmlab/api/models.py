"""The practice API's representations: the Pydantic models of its request and response bodies.

These models are the API's contract: FastAPI builds the OpenAPI document's schemas from them, and
``API_VERSION`` is that document's version. The routers in :mod:`tpmlab.api.routers` use them as
``response_model`` and request bodies; :mod:`tpmlab.api.render` turns store rows into the same
shapes. (No ``from __future__ import annotations``: Pydantic and FastAPI must see real types.)
"""

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from tpmlab.data.schema import EVENT_NAMES

API_VERSION = "1.4.0"
MAX_ID = 2**63 - 1  # SQLite INTEGER range: larger ids are a 422, not a server error
T = TypeVar("T")

Status = Literal["todo", "in_progress", "done"]
Priority = Literal["low", "medium", "high"]
Platform = Literal["web", "ios", "android"]
Channel = Literal["organic", "paid_search", "paid_social", "referral", "partner"]
EventName = Literal[EVENT_NAMES]  # the same names as the dataset's events.event_name
WebhookEvent = Literal["task.created", "task.updated", "task.deleted"]


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
