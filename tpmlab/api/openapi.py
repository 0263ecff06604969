"""The practice API's OpenAPI 3.1 document: FastAPI's, with every error as a ``Problem``.

FastAPI documents its own ``HTTPValidationError``; this API answers every error with RFC 9457
problem details instead, so :func:`install` replaces those schemas with ``Problem`` and adds the
errors any ``/v1`` or ``/v2`` operation can meet (auth, validation, rate limit, injected 5xx).
"""

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tpmlab.api import problems


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` build (once) and return the document described above."""

    def custom_openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = problems.Problem.model_json_schema()
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            _document_common_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]


def _document_common_errors(schema: dict) -> None:
    """Every API operation can meet auth, validation, rate-limit and injected 5xx errors."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(("/v1/", "/v2/")):
            continue
        for method, op in item.items():
            common = [401, 403, 422, 429, 500, 503]
            if method in ("post", "put", "patch"):
                common.append(400)
            responses = op.setdefault("responses", {})
            for status in common:
                entry = responses.setdefault(str(status), {})
                entry["description"] = entry.get("description") or problems.DESCRIPTIONS[status]
                entry["content"] = {
                    problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
