"""The practice API: a FastAPI application serving Orbit's users, projects, tasks and events.

``create_app(config)`` builds one application. It behaves like a production API so the lessons
have something real to observe:

* bearer tokens with scopes: 401 without a valid token, 403 when the token lacks the scope;
* cursor pagination (opaque ``next_cursor`` + RFC 8288 ``Link: <...>; rel="next"``), filtering and
  sorting, with a server-side maximum page size;
* every error as RFC 9457 problem details (``application/problem+json``);
* rate limiting (429 + ``Retry-After``) and fault injection (see :mod:`tpmlab.api.gateway`);
* ``Idempotency-Key`` on POST (IETF httpapi draft): a retry replays the first response, the same key
  with a different body is rejected with 422;
* ``ETag`` and ``Cache-Control: private, no-cache`` on single resources (a cache may keep them but
  must revalidate), ``If-None-Match`` -> 304, ``If-Match`` mismatch -> 412, and optionally a
  missing ``If-Match`` -> 428 (RFC 6585);
* versioned paths: ``/v1`` and ``/v2`` (v2 changes the task representation: a breaking change);
  ``GET /v1/projects/{id}/tasks`` is deprecated: it answers with ``Deprecation`` (RFC 9745),
  ``Sunset`` (RFC 8594) and ``Link`` headers;
* webhooks signed with HMAC-SHA256 (see :mod:`tpmlab.api.webhooks`);
* an OpenAPI 3.1 document at ``/openapi.json``.

Routes are ``async`` and the store is in memory, so a server runs on a single thread.

Where things are (the layout of FastAPI's "Bigger Applications" guide): the request and response
bodies in :mod:`tpmlab.api.models`, one ``APIRouter`` per resource in :mod:`tpmlab.api.routers`,
the shared dependencies (bearer scopes, query checks) in :mod:`tpmlab.api.dependencies`, and the
per-application state in :mod:`tpmlab.api.state`. ``create_app`` only assembles them with the
gateway middleware, the problem-details exception handlers and the OpenAPI document.
"""

from fastapi import Depends, FastAPI

from tpmlab.api import openapi, problems
from tpmlab.api.config import ApiConfig
from tpmlab.api.dependencies import reject_unknown_query
from tpmlab.api.gateway import Gateway
from tpmlab.api.models import API_VERSION
from tpmlab.api.routers import ROUTERS
from tpmlab.api.state import ApiState
from tpmlab.api.store import Store

__all__ = ["API_VERSION", "ApiState", "create_app"]


def create_app(config: ApiConfig | None = None, store: Store | None = None) -> FastAPI:
    """Build the practice API for ``config`` (defaults: :class:`ApiConfig`) and ``store``.

    Each call makes a new :class:`ApiState` (store, request log, rate-limit buckets, idempotency
    records, webhooks, fault sequence) kept in ``app.state.api``: two applications share nothing.
    """
    config = config or ApiConfig()
    store = store or Store()
    app = FastAPI(
        title="Orbit API (practice server)",
        version=API_VERSION,
        description="Orbit's public REST API as served by the TPM Skills Lab practice server. "
        "Errors are RFC 9457 problem details; lists use cursor pagination.",
        docs_url="/docs",
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query)],
    )
    state = ApiState(config, store)
    app.state.api = state
    problems.install(app)
    app.add_middleware(Gateway, state=state)
    for router in ROUTERS:
        app.include_router(router)
    openapi.install(app)
    return app
