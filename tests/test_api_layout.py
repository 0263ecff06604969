"""tpmlab.api's layout: small modules, routes in routers, and no state shared between two apps."""

from __future__ import annotations

import ast
import warnings

import pytest
from fastapi.routing import APIRoute

from tpmlab.api.app import create_app
from tpmlab.api.config import WRITE_TOKEN, ApiConfig
from tpmlab.api.sample import build_sample_db
from tpmlab.api.store import Store
from tpmlab.paths import REPO_ROOT

with warnings.catch_warnings():  # starlette's notice about httpx, not about this package
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API_DIR = REPO_ROOT / "tpmlab" / "api"
MODULES = sorted(API_DIR.rglob("*.py"))
MAX_LINES = 600
WRITE = {"Authorization": f"Bearer {WRITE_TOKEN}"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(API_DIR)))
def test_every_api_module_is_short_and_says_what_it_is_for(path):
    text = path.read_text()
    lines = text.count("\n")
    assert lines <= MAX_LINES, (
        f"{path.relative_to(REPO_ROOT)} has {lines} lines (at most {MAX_LINES}): move a part "
        "into a module of its own (a router per resource in tpmlab/api/routers/)."
    )
    assert ast.get_docstring(ast.parse(text)), (
        f"{path.relative_to(REPO_ROOT)} has no module docstring: say its one job in one."
    )


def _endpoints(app):
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.137 copies included routes into app.routes
        routes = app.routes
    else:
        routes = [c.original_route for c in iter_route_contexts(app.routes)]
    return [r.endpoint for r in routes if isinstance(r, APIRoute)]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return build_sample_db(tmp_path_factory.mktemp("layout") / "orbit.sqlite")


def make_app(db, **settings):
    settings.setdefault("rate_limit", None)
    app = create_app(ApiConfig(**settings), Store(db))
    return app, TestClient(app)


def test_every_route_is_defined_in_a_router_module(db):
    app, _ = make_app(db)
    try:
        endpoints = _endpoints(app)
        operations = [op for item in app.openapi()["paths"].values() for op in item]
    finally:
        app.state.api.close()
    assert len(endpoints) == len(operations) == 18  # every documented operation, found
    modules = {e.__module__ for e in endpoints}
    assert all(m.startswith("tpmlab.api.routers.") for m in modules), sorted(modules)


def test_two_apps_in_one_process_share_no_state(db):
    """Webhooks, idempotency records, rate-limit buckets and request logs belong to one app."""
    (a, ca), (b, cb) = make_app(db, rate_limit=3), make_app(db, rate_limit=3)
    try:
        hook = {"url": "http://127.0.0.1:9/hook", "events": ["task.created"]}
        key = {**WRITE, "Idempotency-Key": "same-key"}
        assert ca.post("/v1/webhooks", headers=WRITE, json=hook).json()["id"] == "wh_1"
        r = ca.post("/v1/tasks", headers=key, json={"project_id": 1, "title": "A"})
        assert r.status_code == 201
        assert ca.get("/v1/webhooks", headers=WRITE).status_code == 200
        assert ca.get("/v1/webhooks", headers=WRITE).status_code == 429  # a's 4th request

        # b has its own bucket for the same token, its own webhooks and its own id counter ...
        assert cb.get("/v1/webhooks", headers=WRITE).json() == []
        assert cb.post("/v1/webhooks", headers=WRITE, json=hook).json()["id"] == "wh_1"
        # ... and a's record of the key does not make b's different body a reused key (422)
        r = cb.post("/v1/tasks", headers=key, json={"project_id": 1, "title": "B"})
        assert (r.status_code, r.json()["title"]) == (201, "B")
        assert (len(a.state.api.log), len(b.state.api.log)) == (4, 3)
    finally:
        a.state.api.close()
        b.state.api.close()
