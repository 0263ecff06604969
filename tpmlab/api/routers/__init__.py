"""The practice API's routes, one ``APIRouter`` per resource, in the OpenAPI document's order.

``create_app`` includes every router of ``ROUTERS``: ``meta`` (``/health``), ``users``,
``projects``, ``tasks`` (v1), ``events``, ``webhooks`` and ``v2`` (the v2 tasks). The routers hold
no state: each route reaches its application's state through the request
(:func:`tpmlab.api.state.api_state`), so one router serves any number of applications.
"""

from tpmlab.api.routers import events, meta, projects, tasks, users, v2, webhooks

ROUTERS = (
    meta.router,
    users.router,
    projects.router,
    tasks.router,
    events.router,
    webhooks.router,
    v2.router,
)

__all__ = ["ROUTERS"]
