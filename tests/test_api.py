"""Unit tests of the practice API (tpmlab.api): one test or more per production behaviour.

Servers here run on a tiny Orbit-shaped database (tpmlab.api.sample) so every expectation can be
recomputed with SQL; test_api_server.py checks start-up and shutdown on the real dataset.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import sqlite3
import threading
import time

import pytest
import requests

from tpmlab.api import READ_TOKEN, WRITE_TOKEN, start_server
from tpmlab.api.config import ApiConfig, ConfigError
from tpmlab.api.problems import MEDIA_TYPE
from tpmlab.api.sample import build_sample_db
from tpmlab.api.webhooks import Receiver, SeenEvents, sign

READ = {"Authorization": f"Bearer {READ_TOKEN}"}
WRITE = {"Authorization": f"Bearer {WRITE_TOKEN}"}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return build_sample_db(tmp_path_factory.mktemp("api") / "orbit.sqlite")


@pytest.fixture(scope="module")
def api(db):
    with start_server(db_path=db, rate_limit=None) as server:
        yield server


@pytest.fixture
def fresh(db):
    """A server of its own (for tests that write, or that configure it)."""
    servers = []

    def make(**settings):
        settings.setdefault("rate_limit", None)
        server = start_server(db_path=db, **settings)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def sql(db, query, *params):
    con = sqlite3.connect(db)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def fetch_all(url, headers, params=None):
    """Reference client: follow next_cursor until it is null; return items and page count."""
    params = dict(params or {})
    items, pages = [], 0
    while True:
        r = requests.get(url, headers=headers, params=params, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["data"]
        pages += 1
        if not body["next_cursor"]:
            return items, pages
        params["cursor"] = body["next_cursor"]


def assert_problem(response, status, slug):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + slug)
    assert body["title"] and body.get("detail")
    return body


# -- auth ------------------------------------------------------------------------------------
def test_missing_token_is_401_with_www_authenticate(api):
    r = requests.get(f"{api.url}/v1/tasks")
    assert_problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_401_invalid_token(api):
    r = requests.get(f"{api.url}/v1/tasks", headers={"Authorization": "Bearer nope"})
    assert_problem(r, 401, "unauthorized")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_wrong_scheme_is_401(api):
    r = requests.get(f"{api.url}/v1/tasks", headers={"Authorization": f"Basic {READ_TOKEN}"})
    assert_problem(r, 401, "unauthorized")


def test_token_without_scope_is_403_not_401(api, db):
    before = sql(db, "SELECT COUNT(*) FROM tasks")[0][0]
    r = requests.post(f"{api.url}/v1/tasks", headers=READ, json={"project_id": 1, "title": "x"})
    body = assert_problem(r, 403, "forbidden")
    assert body["required_scope"] == "tasks:write"
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert api.store.count("tasks") == before  # nothing was created


def test_custom_tokens_and_scopes(fresh):
    server = fresh(tokens={"only-users": ("users:read",)})
    h = {"Authorization": "Bearer only-users"}
    assert requests.get(f"{server.url}/v1/users", headers=h).status_code == 200
    assert requests.get(f"{server.url}/v1/tasks", headers=h).status_code == 403
    assert requests.get(f"{server.url}/v1/tasks", headers=READ).status_code == 401


def test_health_needs_no_token(api):
    assert requests.get(f"{api.url}/health").json()["status"] == "ok"


# -- pagination, filtering, sorting -------------------------------------------------------------
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_cursor_pagination_returns_every_task_once(api, db, limit):
    items, pages = fetch_all(f"{api.url}/v1/tasks", READ, {"limit": limit})
    ids = [t["id"] for t in items]
    expected = [r[0] for r in sql(db, "SELECT task_id FROM tasks ORDER BY task_id")]
    assert ids == expected
    assert pages == -(-len(expected) // min(limit, 100)) + (len(expected) % limit == 0 and 0)


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "title", "-title", "-id"])
def test_sorted_pagination_with_ties_is_complete_and_ordered(api, db, sort):
    items, _ = fetch_all(f"{api.url}/v1/tasks", READ, {"limit": 9, "sort": sort})
    field, desc = sort.lstrip("-"), sort.startswith("-")
    column = {"id": "task_id"}.get(field, field)
    order = "DESC" if desc else "ASC"
    expected = sql(db, f"SELECT task_id FROM tasks ORDER BY {column} {order}, task_id {order}")
    assert [t["id"] for t in items] == [r[0] for r in expected]
    ties = sql(
        db, "SELECT COUNT(*) FROM (SELECT created_at FROM tasks GROUP BY 1 HAVING COUNT(*)>1)"
    )
    assert ties[0][0] > 5  # the fixture really has ties to get wrong


def test_page_size_is_capped_by_the_server(fresh, db):
    server = fresh(default_page_size=3, max_page_size=5)
    r = requests.get(f"{server.url}/v1/tasks", headers=READ, params={"limit": 50})
    assert len(r.json()["data"]) == 5
    r = requests.get(f"{server.url}/v1/tasks", headers=READ)
    assert len(r.json()["data"]) == 3
    items, pages = fetch_all(f"{server.url}/v1/tasks", READ, {"limit": 50})
    assert len(items) == sql(db, "SELECT COUNT(*) FROM tasks")[0][0] and pages == 48


@pytest.mark.parametrize("sort", ["id", "-created_at"])
def test_pagination_is_exact_while_tasks_are_inserted(fresh, db, sort):
    server = fresh()
    original = {r[0] for r in sql(db, "SELECT task_id FROM tasks")}
    params = {"limit": 10, "sort": sort}
    seen, created = [], []
    while True:
        body = requests.get(f"{server.url}/v1/tasks", headers=READ, params=params).json()
        seen += [t["id"] for t in body["data"]]
        for _ in range(3):  # another client keeps adding tasks between our pages
            r = requests.post(
                f"{server.url}/v1/tasks", headers=WRITE, json={"project_id": 2, "title": "new"}
            )
            created.append(r.json()["id"])
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]
    assert len(seen) == len(set(seen)), "an item was returned twice"
    assert original <= set(seen), "an existing item was skipped"
    assert set(seen) <= original | set(created)


def test_offset_style_paging_would_have_duplicated(fresh):
    """Why cursors: the same insertions shift an offset window (documents the lesson's claim)."""
    server = fresh()
    first = requests.get(
        f"{server.url}/v1/tasks", headers=READ, params={"limit": 10, "sort": "-created_at"}
    ).json()["data"]
    requests.post(f"{server.url}/v1/tasks", headers=WRITE, json={"project_id": 2, "title": "n"})
    everything, _ = fetch_all(f"{server.url}/v1/tasks", WRITE, {"sort": "-created_at"})
    second_by_offset = everything[10:20]
    assert second_by_offset[0]["id"] == first[-1]["id"]  # offset 10 repeats the last item


def test_link_header_points_to_the_next_page(api):
    r = requests.get(f"{api.url}/v1/tasks", headers=READ, params={"limit": 5, "status": "done"})
    link = r.headers["Link"]
    assert link.endswith('>; rel="next"')
    url = link[1 : link.index(">")]
    assert "status=done" in url and f"cursor={r.json()['next_cursor']}" in url
    nxt = requests.get(url, headers=READ)
    assert nxt.status_code == 200 and nxt.json()["data"][0]["id"] > r.json()["data"][-1]["id"]


def test_last_page_has_null_cursor_and_no_link(api):
    r = requests.get(f"{api.url}/v1/projects", headers=READ, params={"limit": 100})
    assert r.json()["next_cursor"] is None and "Link" not in r.headers


def test_cursor_from_another_query_is_rejected(api):
    first = requests.get(f"{api.url}/v1/tasks", headers=READ, params={"limit": 5, "status": "done"})
    cursor = first.json()["next_cursor"]
    r = requests.get(f"{api.url}/v1/tasks", headers=READ, params={"limit": 5, "cursor": cursor})
    assert "same query parameters" in assert_problem(r, 400, "invalid-cursor")["detail"]
    r = requests.get(f"{api.url}/v1/tasks", headers=READ, params={"cursor": "garbage!"})
    assert_problem(r, 400, "invalid-cursor")


def test_limit_only_changes_page_size_not_the_cursor(api):
    first = requests.get(f"{api.url}/v1/tasks", headers=READ, params={"limit": 5}).json()
    r = requests.get(
        f"{api.url}/v1/tasks", headers=READ, params={"limit": 8, "cursor": first["next_cursor"]}
    )
    assert r.status_code == 200 and r.json()["data"][0]["id"] == first["data"][-1]["id"] + 1


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"status": "done"}, "status = 'done'"),
        ({"priority": "high", "project_id": 3}, "priority = 'high' AND project_id = 3"),
        ({"assignee_id": 7}, "assignee_id = 7"),
        (
            {"created_after": "2025-01-05T00:00:00Z", "created_before": "2025-01-08T00:00:00"},
            "created_at >= '2025-01-05 00:00:00' AND created_at < '2025-01-08 00:00:00'",
        ),
        ({"created_after": "2025-01-05T02:00:00+02:00"}, "created_at >= '2025-01-05 00:00:00'"),
    ],
)
def test_task_filters_match_sql(api, db, params, where):
    items, _ = fetch_all(f"{api.url}/v1/tasks", READ, {**params, "limit": 20})
    expected = sql(db, f"SELECT task_id FROM tasks WHERE {where} ORDER BY task_id")
    assert [t["id"] for t in items] == [r[0] for r in expected] and expected


def test_users_projects_events_filters(api, db):
    users, _ = fetch_all(f"{api.url}/v1/users", READ, {"country": "de", "platform": "ios"})
    exp = sql(db, "SELECT user_id FROM users WHERE country='DE' AND platform='ios' ORDER BY 1")
    assert [u["id"] for u in users] == [r[0] for r in exp]
    projects, _ = fetch_all(f"{api.url}/v1/projects", READ, {"archived": "true"})
    assert [p["id"] for p in projects] == [
        r[0] for r in sql(db, "SELECT project_id FROM projects WHERE archived=1")
    ]
    events, _ = fetch_all(
        f"{api.url}/v1/events", READ, {"name": "signup", "sort": "-id", "limit": 50}
    )
    exp = sql(db, "SELECT event_id FROM events WHERE event_name='signup' ORDER BY 1 DESC")
    assert [e["id"] for e in events] == [r[0] for r in exp]
    tasks, _ = fetch_all(f"{api.url}/v1/projects/4/tasks", READ)
    assert {t["project_id"] for t in tasks} == {4}


# -- validation errors as problem details ------------------------------------------------------
def test_invalid_query_value_is_422_problem(api):
    r = requests.get(f"{api.url}/v1/tasks", headers=READ, params={"status": "finished"})
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["location"] == "query.status"


def test_unknown_query_parameter_is_422(api):
    r = requests.get(f"{api.url}/v1/tasks", headers=READ, params={"limt": 5})
    assert "limt" in assert_problem(r, 422, "validation-error")["detail"]


def test_limit_out_of_bounds_is_422(api):
    for bad in (0, 1001, "ten"):
        r = requests.get(f"{api.url}/v1/tasks", headers=READ, params={"limit": bad})
        assert_problem(r, 422, "validation-error")


def test_invalid_body_lists_every_problem(api):
    r = requests.post(
        f"{api.url}/v1/tasks", headers=WRITE, json={"title": "", "priority": "urgent"}
    )
    body = assert_problem(r, 422, "validation-error")
    locations = {e["location"] for e in body["errors"]}
    assert {"body.project_id", "body.title", "body.priority"} <= locations


def test_malformed_json_is_400(api):
    r = requests.post(
        f"{api.url}/v1/tasks",
        headers={**WRITE, "Content-Type": "application/json"},
        data=b'{"title": "x",',
    )
    assert_problem(r, 400, "malformed-request")


def test_unknown_reference_and_unknown_path(api):
    r = requests.post(
        f"{api.url}/v1/tasks", headers=WRITE, json={"project_id": 10**6, "title": "x"}
    )
    assert_problem(r, 422, "validation-error")
    assert_problem(requests.get(f"{api.url}/v1/tasks/999999", headers=READ), 404, "not-found")
    assert_problem(requests.get(f"{api.url}/v1/nothing", headers=READ), 404, "not-found")
    r = requests.put(f"{api.url}/v1/tasks/1", headers=WRITE, json={})
    assert_problem(r, 405, "method-not-allowed")
    assert r.headers["Allow"] == "DELETE, GET, PATCH"


# -- rate limiting ----------------------------------------------------------------------------
def test_rate_limit_429_with_retry_after_then_recovers(fresh):
    server = fresh(rate_limit=3, rate_window_s=1.0, retry_after_format="seconds")
    url = f"{server.url}/v1/users/1"
    statuses = [requests.get(url, headers=READ).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = requests.get(url, headers=READ)
    body = assert_problem(r, 429, "rate-limited")
    assert r.headers["Retry-After"] == "1" and body["retry_after"] == 1
    assert r.headers["RateLimit-Remaining"] == "0" and r.headers["RateLimit-Limit"] == "3"
    assert requests.get(url, headers=WRITE).status_code == 200  # limits are per token
    time.sleep(float(r.headers["Retry-After"]))
    assert requests.get(url, headers=READ).status_code == 200


def test_retry_after_counts_down_the_window(fresh):
    server = fresh(rate_limit=1, rate_window_s=5.0)
    url = f"{server.url}/v1/users/1"
    assert requests.get(url, headers=READ).headers["RateLimit-Remaining"] == "0"
    time.sleep(1.2)
    r = requests.get(url, headers=READ)
    assert r.status_code == 429 and r.headers["Retry-After"] == "4"


def _retry_after_delay(value: str, now: float) -> float:
    """Seconds to wait for either form of Retry-After (RFC 9110 section 10.2.3)."""
    if value.isdigit():
        return float(value)
    return email.utils.parsedate_to_datetime(value).timestamp() - now


def test_retry_after_alternates_seconds_and_http_date_by_default(fresh):
    server = fresh(rate_limit=1, rate_window_s=3.0)
    url = f"{server.url}/v1/users/1"
    assert requests.get(url, headers=READ).status_code == 200
    values = []
    for _ in range(3):
        before = time.time()  # the server's clock reads between before and after
        r = requests.get(url, headers=READ)
        assert r.status_code == 429
        values.append((r.headers["Retry-After"], (before, time.time()), r.json()["retry_after"]))
    assert [v.isdigit() for v, _, _ in values] == [True, False, True]
    date, (before, after), seconds = values[1]
    assert date.endswith(" GMT") and email.utils.parsedate_to_datetime(date).tzinfo is not None
    # The date is the same instant as the seconds form, rounded up to the whole second.
    assert _retry_after_delay(date, before) >= seconds, (date, seconds)
    assert _retry_after_delay(date, after) <= seconds + 1.05, (date, seconds)
    assert int(values[0][0]) == values[0][2]


def test_retry_after_http_date_on_injected_503_and_format_is_checked(fresh):
    server = fresh(error_statuses=(503,), error_rate=1.0, retry_after_s=2)
    server.configure(retry_after_format="http-date")
    for _ in range(2):
        # the server's clock reads somewhere between these two (a busy machine answers late)
        before = time.time()
        r = requests.get(f"{server.url}/v1/users/1", headers=READ)
        after = time.time()
        assert r.status_code == 503
        value = r.headers["Retry-After"]
        assert _retry_after_delay(value, before) >= 2, value  # 2 s, rounded up to the second
        assert _retry_after_delay(value, after) <= 3.05, value
    with pytest.raises(ConfigError, match="retry_after_format"):
        ApiConfig(retry_after_format="minutes")


def test_rate_limit_reconfigured_at_run_time(fresh):
    server = fresh(rate_limit=1, rate_window_s=60)
    url = f"{server.url}/v1/users/1"
    assert [requests.get(url, headers=READ).status_code for _ in range(2)] == [200, 429]
    server.configure(rate_limit=None)
    assert requests.get(url, headers=READ).status_code == 200
    assert [r.status for r in server.requests_log()] == [200, 429, 200]


# -- idempotency keys -------------------------------------------------------------------------
def _post(server, body, key=None, headers=WRITE):
    h = dict(headers)
    if key:
        h["Idempotency-Key"] = key
    return requests.post(f"{server.url}/v1/tasks", headers=h, json=body)


def test_idempotency_key_replays_the_first_response(fresh):
    server = fresh()
    before = server.store.count("tasks")
    first = _post(server, {"project_id": 2, "title": "Write launch memo"}, "key-1")
    again = _post(server, {"title": "Write launch memo", "project_id": 2}, "key-1")  # same body
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and first.headers["Location"] == again.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert server.store.count("tasks") == before + 1


def test_same_key_different_body_is_422(fresh):
    server = fresh()
    _post(server, {"project_id": 2, "title": "A"}, "key-2")
    r = _post(server, {"project_id": 2, "title": "B"}, "key-2")
    assert_problem(r, 422, "idempotency-key-reused")


def test_keys_are_scoped_per_token(fresh):
    server = fresh(tokens={"t1": ("tasks:write",), "t2": ("tasks:write",)})
    a = _post(server, {"project_id": 2, "title": "A"}, "k", {"Authorization": "Bearer t1"})
    b = _post(server, {"project_id": 2, "title": "A"}, "k", {"Authorization": "Bearer t2"})
    assert a.json()["id"] != b.json()["id"]


def test_failed_validation_does_not_burn_the_key(fresh):
    server = fresh()
    assert _post(server, {"project_id": 10**6, "title": "A"}, "k3").status_code == 422
    assert _post(server, {"project_id": 2, "title": "A"}, "k3").status_code == 201


def test_retry_after_lost_response_duplicates_without_key_but_not_with_one(fresh):
    server = fresh()
    body = {"project_id": 2, "title": "Retry me"}
    before = server.store.count("tasks")
    server.fail_next(500, method="POST")  # the write happens, the client sees a 500
    assert _post(server, body).status_code == 500
    assert _post(server, body).status_code == 201
    assert server.store.count("tasks") == before + 2  # blind retry = duplicate
    server.fail_next(503, method="POST")
    assert _post(server, body, "same-key").status_code == 503
    r = _post(server, body, "same-key")
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    assert server.store.count("tasks") == before + 3


def test_idempotency_key_can_be_required(fresh):
    server = fresh(require_idempotency_key=True)
    assert_problem(_post(server, {"project_id": 2, "title": "A"}), 400, "idempotency-key-missing")


# -- ETags and conditional requests ------------------------------------------------------------
def test_etag_if_none_match_gives_304(api):
    url = f"{api.url}/v1/tasks/5"
    r = requests.get(url, headers=READ)
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    r2 = requests.get(url, headers={**READ, "If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["ETag"] == etag
    r3 = requests.get(url, headers={**READ, "If-None-Match": f'"other", W/{etag}'})
    assert r3.status_code == 304  # weak comparison, lists
    assert requests.get(url, headers={**READ, "If-None-Match": '"x"'}).status_code == 200


def test_if_match_lost_update_protection(fresh):
    server = fresh()
    url = f"{server.url}/v1/tasks/5"
    etag = requests.get(url, headers=READ).headers["ETag"]
    ok = requests.patch(url, headers={**WRITE, "If-Match": etag}, json={"status": "done"})
    assert ok.status_code == 200 and ok.json()["completed_at"] and ok.headers["ETag"] != etag
    stale = requests.patch(url, headers={**WRITE, "If-Match": etag}, json={"title": "mine"})
    body = assert_problem(stale, 412, "precondition-failed")
    assert body["current_etag"] == ok.headers["ETag"]
    assert requests.get(url, headers=READ).json()["title"] != "mine"
    assert requests.get(url, headers={**READ, "If-None-Match": etag}).status_code == 200
    star = requests.patch(url, headers={**WRITE, "If-Match": "*"}, json={"status": "todo"})
    assert star.status_code == 200 and star.json()["completed_at"] is None
    weak = requests.patch(url, headers={**WRITE, "If-Match": "W/" + star.headers["ETag"]}, json={})
    assert weak.status_code == 412  # If-Match uses strong comparison


def test_patch_rejects_null_for_required_fields_and_unknown_fields(fresh):
    server = fresh()
    url = f"{server.url}/v1/tasks/6"
    assert_problem(
        requests.patch(url, headers=WRITE, json={"status": None}), 422, "validation-error"
    )
    assert_problem(
        requests.patch(url, headers=WRITE, json={"colour": "red"}), 422, "validation-error"
    )
    r = requests.patch(url, headers=WRITE, json={"assignee_id": None})
    assert r.status_code == 200 and r.json()["assignee_id"] is None


def test_delete_is_idempotent_in_effect_not_in_status(fresh):
    server = fresh()
    url = f"{server.url}/v1/tasks/9"
    assert requests.delete(url, headers=WRITE).status_code == 204
    assert requests.delete(url, headers=WRITE).status_code == 404
    assert requests.get(url, headers=READ).status_code == 404


# -- versions ---------------------------------------------------------------------------------
def test_v1_and_v2_represent_the_same_task_differently(api, db):
    task_id, assignee, created = sql(
        db,
        "SELECT task_id, assignee_id, created_at FROM tasks WHERE assignee_id IS NOT NULL LIMIT 1",
    )[0]
    v1 = requests.get(f"{api.url}/v1/tasks/{task_id}", headers=READ).json()
    v2 = requests.get(f"{api.url}/v2/tasks/{task_id}", headers=READ).json()
    assert v1["assignee_id"] == assignee and "assignee" not in v1
    assert v2["assignee"] == {"id": assignee, "href": f"/v1/users/{assignee}"}
    assert "assignee_id" not in v2
    assert v1["created_at"] == created and v2["created_at"] == created.replace(" ", "T") + "Z"
    page = requests.get(f"{api.url}/v2/tasks", headers=READ, params={"limit": 3}).json()
    assert all("assignee" in t for t in page["data"])


# -- webhooks ---------------------------------------------------------------------------------
def _verify(body: bytes, header: str, secret: str) -> bool:
    parts = [p.split("=", 1) for p in header.split(",")]
    ts = next(v for k, v in parts if k == "t")
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)


def test_webhooks_are_delivered_and_signed(fresh):
    server = fresh(webhook_secret="whsec_test")
    with Receiver() as receiver:
        r = requests.post(
            f"{server.url}/v1/webhooks",
            headers=WRITE,
            json={"url": receiver.url, "events": ["task.created", "task.updated"]},
        )
        assert r.status_code == 201
        created = _post(server, {"project_id": 2, "title": "hooked"}).json()
        requests.patch(
            f"{server.url}/v1/tasks/{created['id']}", headers=WRITE, json={"priority": "high"}
        )
        requests.delete(f"{server.url}/v1/tasks/{created['id']}", headers=WRITE)  # not subscribed
        got = receiver.wait_for(2)
        assert len(got) == 2
        time.sleep(0.2)
        assert len(receiver.received) == 2
    first, second = got
    assert first.json()["type"] == "task.created" and first.json()["data"] == created
    assert second.json()["data"]["priority"] == "high"
    for hook in got:
        header = hook.headers["Orbit-Signature"]
        assert _verify(hook.body, header, "whsec_test")
        assert not _verify(hook.body, header, "whsec_wrong")
        assert not _verify(hook.body.replace(b"hooked", b"hacked"), header, "whsec_test")
        ts = int(header.split(",")[0][2:])
        assert abs(ts - time.time()) < 10
        assert hook.headers["Orbit-Event-Id"] == hook.json()["id"]
    deliveries = server.webhook_deliveries()
    assert [d.status for d in deliveries] == [200, 200]


def test_replay_with_a_changed_event_id_header_is_refused_by_body_id_dedup(fresh):
    server = fresh(webhook_secret="whsec_test")
    with Receiver() as receiver:
        requests.post(
            f"{server.url}/v1/webhooks",
            headers=WRITE,
            json={"url": receiver.url, "events": ["task.created"]},
        )
        _post(server, {"project_id": 2, "title": "Replay me"})
        genuine = receiver.wait_for(1)[0]
    # The attacker resends the captured delivery within the tolerance window with a new header.
    replay_headers = {**genuine.headers, "Orbit-Event-Id": "evt_999999"}
    for headers in (genuine.headers, replay_headers):  # both still verify: the header is unsigned
        assert _verify(genuine.body, headers["Orbit-Signature"], "whsec_test")

    seen_headers: set[str] = set()  # the old advice: remember Orbit-Event-Id values

    def header_dedup(headers) -> bool:
        new = headers["Orbit-Event-Id"] not in seen_headers
        seen_headers.add(headers["Orbit-Event-Id"])
        return new

    assert [header_dedup(genuine.headers), header_dedup(replay_headers)] == [True, True]
    seen = SeenEvents(window_s=300)
    assert [seen.first_time(genuine.body), seen.first_time(genuine.body)] == [True, False]
    assert SeenEvents.event_id(genuine.body) == genuine.json()["id"]


def test_seen_events_forgets_after_its_window_and_rejects_bad_input():
    body = b'{"id":"evt_000001","type":"ping","data":{}}'
    seen = SeenEvents(window_s=300)
    assert seen.first_time(body, now=1000.0) and not seen.first_time(body, now=1299.0)
    assert seen.first_time(body, now=1600.0)  # older than the window: a timestamp check refuses
    with pytest.raises(ValueError, match="deduplicate only"):
        seen.first_time(b"not json")
    with pytest.raises(ValueError, match="window_s"):
        SeenEvents(window_s=0)


def test_webhook_ping_and_secret_rotation(fresh):
    server = fresh(webhook_secret=("whsec_new", "whsec_old"))
    with Receiver() as receiver:
        hook = requests.post(
            f"{server.url}/v1/webhooks",
            headers=WRITE,
            json={"url": receiver.url, "events": ["task.deleted"]},
        ).json()
        assert (
            requests.post(f"{server.url}/v1/webhooks/{hook['id']}/ping", headers=WRITE).status_code
            == 202
        )
        (got,) = receiver.wait_for(1)
    header = got.headers["Orbit-Signature"]
    assert header.count("v1=") == 2
    assert _verify(got.body, header, "whsec_new") and _verify(got.body, header, "whsec_old")
    assert got.json()["type"] == "ping"


def test_sign_matches_an_independent_hmac():
    body = b'{"id":"evt_1"}'
    header = sign(body, "s3cret", timestamp=1_700_000_000)
    expected = hmac.new(b"s3cret", b'1700000000.{"id":"evt_1"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_unreachable_webhook_is_recorded_not_fatal(fresh):
    server = fresh()
    requests.post(
        f"{server.url}/v1/webhooks",
        headers=WRITE,
        json={"url": "http://127.0.0.1:9/x", "events": ["task.created"]},
    )
    assert _post(server, {"project_id": 2, "title": "x"}).status_code == 201
    (delivery,) = server.webhook_deliveries()
    assert delivery.status is None and delivery.error


# -- fault injection --------------------------------------------------------------------------
def _statuses(server, n):
    return [requests.get(f"{server.url}/v1/users/1", headers=READ).status_code for _ in range(n)]


def test_fault_rate_is_close_to_the_setting_and_seeded(fresh):
    a = fresh(error_rate=0.3, fault_seed=7)
    b = fresh(error_rate=0.3, fault_seed=7)
    c = fresh(error_rate=0.3, fault_seed=8)
    sa, sb, sc = _statuses(a, 300), _statuses(b, 300), _statuses(c, 300)
    assert sa == sb and sa != sc
    errors = sum(s >= 500 for s in sa)
    # Binomial(300, 0.3): mean 90, sd 7.9; +-4 sd
    assert 58 <= errors <= 122
    assert set(sa) <= {200, 500, 503} and {500, 503} <= set(sa)


def test_injected_503_carries_retry_after(fresh):
    server = fresh(error_statuses=(503,), error_rate=1.0, retry_after_s=2)
    r = requests.get(f"{server.url}/v1/users/1", headers=READ)
    assert_problem(r, 503, "service-unavailable")
    assert r.headers["Retry-After"] == "2"


def test_no_faults_outside_the_api_paths(fresh):
    server = fresh(error_rate=1.0)
    assert requests.get(f"{server.url}/health").status_code == 200
    assert requests.get(f"{server.url}/openapi.json").status_code == 200


def test_scripted_faults_in_order_then_normal(fresh):
    server = fresh()
    server.fail_next(503, 500, path="/v1/users")
    assert requests.get(f"{server.url}/v1/tasks/1", headers=READ).status_code == 200
    assert _statuses(server, 3) == [503, 500, 200]
    records = server.requests_log(path="/v1/users")
    assert [r.injected for r in records] == ["error", "error", None]


def test_faults_before_write_do_not_write(fresh):
    server = fresh(faults_after_write=False)
    before = server.store.count("tasks")
    server.fail_next(500, method="POST")
    assert _post(server, {"project_id": 2, "title": "x"}).status_code == 500
    assert server.store.count("tasks") == before


def test_latency_injection(fresh):
    server = fresh(latency_ms=30, slow_rate=0.5, slow_ms=120, fault_seed=3)
    times = []
    for _ in range(20):
        t = time.perf_counter()
        requests.get(f"{server.url}/v1/users/1", headers=READ)
        times.append((time.perf_counter() - t) * 1000)
    slow = [t for t in times if t >= 150]
    assert min(times) >= 30 and 3 <= len(slow) <= 17


def test_config_is_validated():
    with pytest.raises(ConfigError, match="error_rate"):
        ApiConfig(error_rate=1.5)
    with pytest.raises(ConfigError, match="default_page_size"):
        ApiConfig(default_page_size=50, max_page_size=10)
    with pytest.raises(ConfigError, match="Unknown"):
        ApiConfig().updated(page_size=3)


# -- request log (what graders read) -----------------------------------------------------------
def test_request_log_records_headers_clients_sent(fresh):
    server = fresh()
    requests.get(f"{server.url}/v1/tasks/3", headers={**READ, "If-None-Match": '"x"'})
    _post(server, {"project_id": 2, "title": "x"}, "abc")
    get, post = server.requests_log()
    assert get.if_none_match == '"x"' and get.token == READ_TOKEN and get.status == 200
    assert post.idempotency_key == "abc" and post.method == "POST" and post.status == 201
    assert server.requests_log(method="POST") == [post]


# -- OpenAPI ----------------------------------------------------------------------------------
def test_openapi_document(api):
    spec = requests.get(f"{api.url}/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "Problem" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in json.dumps(spec)
    for path, item in spec["paths"].items():
        if path.startswith("/v"):
            for op in item.values():
                assert op.get("security"), path
                for status in ("401", "422", "429", "500"):
                    assert MEDIA_TYPE in op["responses"][status]["content"], (path, status)
    params = {p["name"] for p in spec["paths"]["/v1/tasks"]["get"]["parameters"]}
    assert {"limit", "cursor", "sort", "status", "created_after"} <= params


def test_requests_are_served_concurrently_without_errors(api):
    results = []

    def worker():
        for _ in range(10):
            results.append(requests.get(f"{api.url}/v1/tasks", headers=READ).status_code)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 50


# -- preconditions, caching, deprecation ------------------------------------------------------
def test_428_when_if_match_is_required_and_missing(fresh):
    server = fresh(require_if_match=True)
    url = f"{server.url}/v1/tasks/7"
    for method in ("patch", "delete"):
        r = requests.request(method, url, headers=WRITE, json={"priority": "high"})
        assert_problem(r, 428, "precondition-required")
        assert "If-Match" in r.json()["detail"]
    etag = requests.get(url, headers=READ).headers["ETag"]
    r = requests.patch(url, headers={**WRITE, "If-Match": etag}, json={"priority": "high"})
    assert r.status_code == 200
    spec = requests.get(f"{server.url}/openapi.json").json()
    assert "428" in spec["paths"]["/v1/tasks/{task_id}"]["patch"]["responses"]
    server.configure(require_if_match=False)  # the default: an unconditional PATCH is allowed
    assert requests.patch(url, headers=WRITE, json={"priority": "low"}).status_code == 200


def test_single_resources_must_be_revalidated_before_reuse(api):
    r = requests.get(f"{api.url}/v1/tasks/3", headers=READ)
    assert r.headers["Cache-Control"] == "private, no-cache"
    again = requests.get(
        f"{api.url}/v1/tasks/3", headers={**READ, "If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304 and again.headers["Cache-Control"] == "private, no-cache"


def test_deprecated_operation_announces_deprecation_and_sunset(api):
    r = requests.get(f"{api.url}/v1/projects/1/tasks", headers=READ, params={"limit": 1})
    assert r.status_code == 200
    assert r.headers["Deprecation"] == "@1756684800"  # RFC 9745 structured Date
    sunset = email.utils.parsedate_to_datetime(r.headers["Sunset"])  # RFC 8594 HTTP-date
    assert sunset.isoformat() == "2027-03-01T00:00:00+00:00"
    assert sunset.timestamp() > 1756684800
    links = r.headers["Link"]
    assert 'rel="next"' in links and 'rel="deprecation"' in links and 'rel="sunset"' in links
    assert "Deprecation" not in requests.get(f"{api.url}/v1/tasks", headers=READ).headers
    spec = requests.get(f"{api.url}/openapi.json").json()
    assert spec["paths"]["/v1/projects/{project_id}/tasks"]["get"]["deprecated"] is True
