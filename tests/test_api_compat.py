"""tpmlab.api.compat: the OpenAPI differ used to review API changes."""

from __future__ import annotations

import copy

import pytest

from tpmlab.api.app import create_app
from tpmlab.api.compat import KINDS, Change, diff
from tpmlab.api.config import ApiConfig
from tpmlab.api.sample import build_sample_db
from tpmlab.api.store import Store


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    app = create_app(ApiConfig(), Store(build_sample_db(tmp_path_factory.mktemp("c") / "o.sqlite")))
    yield app.openapi()
    app.state.api.close()


def kinds(changes):
    return {(c.kind, c.direction, c.operation, c.location, c.required) for c in changes}


def test_identical_documents_have_no_changes(spec):
    assert diff(spec, copy.deepcopy(spec)) == []


def test_operations_added_and_removed(spec):
    new = copy.deepcopy(spec)
    del new["paths"]["/v1/events"]
    new["paths"]["/v1/comments"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    assert kinds(diff(spec, new)) == {
        ("operation_removed", "operation", "GET /v1/events", "", None),
        ("operation_added", "operation", "GET /v1/comments", "", None),
    }


def test_request_body_changes(spec):
    new = copy.deepcopy(spec)
    create = new["components"]["schemas"]["TaskCreate"]
    create["properties"]["due_date"] = {"type": "string", "format": "date"}
    create["required"].append("due_date")
    create["properties"]["labels"] = {"type": "array", "items": {"type": "string"}}
    create["properties"]["priority"]["enum"].append("urgent")
    create["properties"]["title"]["maxLength"] = 80
    changes = diff(spec, new)
    op = "POST /v1/tasks"
    assert kinds(changes) == {
        ("field_added", "request", op, "body.due_date", True),
        ("field_added", "request", op, "body.labels", False),
        ("enum_value_added", "request", op, "body.priority", None),
        ("constraint_tightened", "request", op, "body.title (maxLength)", None),
    }
    tightened = next(c for c in changes if c.kind == "constraint_tightened")
    assert (tightened.old, tightened.new) == (200, 80)


def test_response_changes_through_refs_arrays_and_nullables(spec):
    new = copy.deepcopy(spec)
    task = new["components"]["schemas"]["TaskV1"]
    del task["properties"]["assignee_id"]
    task["required"].remove("assignee_id")
    task["required"].remove("completed_at")
    task["properties"]["status"]["enum"].remove("in_progress")
    task["properties"]["status"]["enum"].append("blocked")
    task["properties"]["created_by"] = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    changes = [c for c in diff(spec, new) if c.operation == "GET /v1/tasks" and "200" in c.location]
    base = "response 200 body.data[]"
    assert kinds(changes) == {
        ("field_removed", "response", "GET /v1/tasks", f"{base}.assignee_id", True),
        ("field_became_optional", "response", "GET /v1/tasks", f"{base}.completed_at", None),
        ("enum_value_removed", "response", "GET /v1/tasks", f"{base}.status", None),
        ("enum_value_added", "response", "GET /v1/tasks", f"{base}.status", None),
        ("type_widened", "response", "GET /v1/tasks", f"{base}.created_by", None),
    }


def test_parameter_changes(spec):
    new = copy.deepcopy(spec)
    params = new["paths"]["/v1/tasks"]["get"]["parameters"]
    by_name = {p["name"]: p for p in params}
    by_name["project_id"]["required"] = True
    params.remove(by_name["assignee_id"])
    limit = by_name["limit"]["schema"]["anyOf"][0]
    limit["maximum"] = 2000
    params.append({"name": "q", "in": "query", "required": False, "schema": {"type": "string"}})
    changes = [c for c in diff(spec, new) if c.operation == "GET /v1/tasks"]
    assert kinds(changes) == {
        ("field_became_required", "request", "GET /v1/tasks", "query parameter project_id", None),
        ("field_removed", "request", "GET /v1/tasks", "query parameter assignee_id", False),
        ("constraint_relaxed", "request", "GET /v1/tasks", "query parameter limit (maximum)", None),
        ("field_added", "request", "GET /v1/tasks", "query parameter q", False),
    }


def test_type_changes_classified_by_direction_of_set_change():
    def doc(t):
        return {
            "paths": {
                "/x": {
                    "get": {
                        "responses": {
                            "200": {
                                "description": "",
                                "content": {
                                    "application/json": {
                                        "schema": {"type": "object", "properties": {"v": t}}
                                    }
                                },
                            }
                        }
                    }
                }
            }
        }

    def kind(a, b):
        (c,) = diff(doc(a), doc(b))
        return c.kind

    assert kind({"type": "integer"}, {"type": "number"}) == "type_widened"
    assert kind({"type": "number"}, {"type": "integer"}) == "type_narrowed"
    assert kind({"type": "integer"}, {"type": "string"}) == "type_changed"
    assert kind({"type": ["string", "null"]}, {"type": "string"}) == "type_narrowed"


def test_every_kind_is_documented_and_changes_print_readably(spec):
    new = copy.deepcopy(spec)
    del new["components"]["schemas"]["TaskV1"]["properties"]["title"]
    changes = diff(spec, new)
    assert changes and all(c.kind in KINDS for c in changes)
    text = str(changes[0])
    assert text.startswith("[response] GET ") and "field_removed" in text
    assert isinstance(changes[0], Change)
