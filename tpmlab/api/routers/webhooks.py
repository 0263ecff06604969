"""The ``webhooks`` router: subscribe a URL to task events, list, ping and delete subscriptions.

Subscriptions live in the application's own state; signing and delivery are in
:mod:`tpmlab.api.webhooks` and :meth:`tpmlab.api.state.ApiState.send`.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from tpmlab.api.dependencies import write_hooks
from tpmlab.api.models import Webhook, WebhookCreate
from tpmlab.api.problems import ProblemError, error_responses
from tpmlab.api.render import json_response
from tpmlab.api.state import api_state
from tpmlab.api.store import now_text

router = APIRouter(tags=["webhooks"])


@router.post(
    "/v1/webhooks",
    response_model=Webhook,
    status_code=201,
    responses=error_responses(400, 401, 403, 422, 429),
)
async def create_webhook(
    request: Request, body: WebhookCreate, _: Annotated[str, Depends(write_hooks)]
):
    """Subscribe a URL to task events. Deliveries carry an `Orbit-Signature` header."""
    state = api_state(request)
    hook = Webhook(
        id=state.next_webhook_id(),
        url=body.url,
        events=body.events,
        created_at=now_text(),
    )
    state.webhooks[hook.id] = hook
    return json_response(hook.model_dump(), 201, {"Location": f"/v1/webhooks/{hook.id}"})


@router.get(
    "/v1/webhooks",
    response_model=list[Webhook],
    responses=error_responses(401, 403, 429),
)
async def list_webhooks(request: Request, _: Annotated[str, Depends(write_hooks)]):
    """Your webhook subscriptions. Scope: `webhooks:write`."""
    return [h.model_dump() for h in api_state(request).webhooks.values()]


@router.post(
    "/v1/webhooks/{webhook_id}/ping",
    status_code=202,
    responses=error_responses(401, 403, 404, 429),
)
async def ping_webhook(
    request: Request,
    _: Annotated[str, Depends(write_hooks)],
    webhook_id: Annotated[str, Path(max_length=50)],
) -> dict:
    """Send a signed `ping` event to the subscription's URL."""
    state = api_state(request)
    hook = state.webhooks.get(webhook_id)
    if hook is None:
        raise ProblemError("not-found", f"There is no webhook {webhook_id}.")
    state.send(hook, "ping", {"webhook_id": hook.id})
    return {"queued": True}


@router.delete(
    "/v1/webhooks/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 429),
)
async def delete_webhook(
    request: Request,
    _: Annotated[str, Depends(write_hooks)],
    webhook_id: Annotated[str, Path(max_length=50)],
):
    """Unsubscribe."""
    if api_state(request).webhooks.pop(webhook_id, None) is None:
        raise ProblemError("not-found", f"There is no webhook {webhook_id}.")
    return Response(status_code=204)
