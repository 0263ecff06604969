"""Contract tests: the practice API answers every operation as its own OpenAPI document says.

Schemathesis reads ``/openapi.json`` from the application object (in process, no network),
generates requests for every operation (valid ones, and invalid ones to check they are
rejected with a 4xx), and checks each response against the document: status code documented,
content type documented, body matches the schema, no 5xx. Run with a write token so both the
read and the write paths are exercised.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tpmlab.api.app import create_app
from tpmlab.api.config import WRITE_TOKEN, ApiConfig
from tpmlab.api.sample import build_sample_db
from tpmlab.api.store import Store

# Built at import because schemathesis' pytest integration needs the schema at collection time.
_tmp = tempfile.TemporaryDirectory(prefix="tpmlab-contract-")
_app = create_app(
    ApiConfig(rate_limit=None), Store(build_sample_db(Path(_tmp.name) / "orbit.sqlite"))
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@pytest.fixture(scope="module", autouse=True)
def _close_app():
    yield
    _app.state.api.close()
    _tmp.cleanup()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_conforms_to_the_openapi_document(case):
    # Three inputs are schema-valid strings whose *meaning* the server checks, so a random
    # value is rightly refused (400, 412, 422). Each refusal is unit-tested in test_api.py;
    # here they are normalised so every other answer can be checked against the contract.
    positive = (
        case.meta is None or case.meta.generation.mode == schemathesis.GenerationMode.POSITIVE
    )
    if case.query and positive:
        # Opaque and server-issued: garbage -> 400 invalid-cursor. In a negative case the cursor
        # may be the invalid part, and a garbage cursor is rejected (400 or 422) as it should be.
        case.query.pop("cursor", None)
    if case.headers:
        for name in list(case.headers):
            if name.lower() in ("if-match", "idempotency-key"):
                del case.headers[name]  # stale ETag -> 412; reused key -> 422
        if case.method.upper() == "POST" and case.path == "/v1/tasks":
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
    if positive and isinstance(case.body, dict):  # ids must exist (else 422, unit-tested)
        for field in ("project_id", "assignee_id"):
            value = case.body.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool):
                case.body[field] = 1
    case.call_and_validate(headers={"Authorization": f"Bearer {WRITE_TOKEN}"})
