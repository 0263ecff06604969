"""Orbit's practice API: a real HTTP server for the APIs module, runnable offline anywhere.

``start_server(**settings)`` starts it in the background and returns a handle with ``.url``;
``python -m tpmlab.api`` runs it from a terminal. Modules: ``config`` (settings), ``app``
(``create_app``: assembles the FastAPI application), ``models`` (request and response bodies),
``routers`` (one ``APIRouter`` per resource), ``dependencies`` (bearer scopes, query checks,
shared parameters), ``state`` (what one application holds), ``render`` (store rows as
representations), ``pagination`` (cursors), ``conditional`` (ETags and preconditions),
``idempotency`` (``Idempotency-Key``), ``openapi`` (the OpenAPI document), ``gateway`` (rate
limits, faults, request log), ``store`` (data), ``problems`` (RFC 9457 errors), ``webhooks``
(signing, delivery, a local receiver, deduplication on the signed event id), ``digests`` (a
static check that a verifier compares in constant time), ``compat`` (listing the differences
between two OpenAPI documents), ``server`` (running it), ``show`` (raw HTTP text and curl
commands for the lessons), ``sample`` (a tiny database for tests), ``lab`` (module 7's workspace
API: a deliberately vulnerable configuration and planted-bug mutants, each started only on
request with ``tpmlab.api.lab.start_lab``; nothing above uses it).
"""

from tpmlab.api.config import READ_TOKEN, WRITE_TOKEN, ApiConfig
from tpmlab.api.server import ApiServer, start_server, stop_all

__all__ = ["ApiConfig", "ApiServer", "READ_TOKEN", "WRITE_TOKEN", "start_server", "stop_all"]
