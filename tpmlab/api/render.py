"""Store rows as the API's representations (v1 and v2), and the JSON response that carries them.

The store speaks the dataset's column names (``task_id``, ``event_time``); the API speaks the
field names of :mod:`tpmlab.api.models` (``id``, ``time``). Each ``*_out`` function is that
translation for one resource; ``task_v2`` is the breaking change of ``/v2`` (an ``assignee``
object and RFC 3339 times).
"""

from typing import Any

from fastapi.responses import JSONResponse


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def rfc3339(text: str | None) -> str | None:
    return None if text is None else text.replace(" ", "T") + "Z"


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
        "created_at": rfc3339(row["created_at"]),
        "completed_at": rfc3339(row["completed_at"]),
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
