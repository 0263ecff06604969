"""The ``meta`` router: ``GET /health``, the liveness check outside ``/v1`` (no token, no limit)."""

from fastapi import APIRouter

from tpmlab.api.models import API_VERSION, Health

router = APIRouter(tags=["meta"])


@router.get("/health", response_model=Health)
async def health() -> dict:
    """Liveness check. No token needed, not rate limited."""
    return {"status": "ok", "version": API_VERSION}
