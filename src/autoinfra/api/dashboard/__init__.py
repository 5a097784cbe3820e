"""The operator's dashboard: HTML pages over the API's service, Slack callbacks, notifications.

``router`` is mounted by ``autoinfra.api.app.create_app`` when this package is present, and
``ROUTE_ROLES`` is merged into the app's route table: every page needs a viewer's session (a
person without one is sent to ``/static/login.html``). The pages' JavaScript and CSS live in
``autoinfra/api/static`` (served at ``/static``), their templates in ``autoinfra/api/templates``.

The one route outside that table is Slack's callback (``dashboard.slack``), authenticated by
Slack's signature rather than a token; ``SIGNED_ROUTES`` names it so tests can hold it to that.

    pages       the seven pages (overview, approvals, incidents, audit, agents, overrides,
                compliance) and ``/`` -> ``/ui/``
    render      the Jinja2 environment (autoescaped) and its filters
    compliance  scopes, limits, safe-mode periods and overrides, read back from the audit chain
    slack       POST /api/v1/slack/interactions
    bridge      watches the service and feeds the notifiers; started with the app
"""

from __future__ import annotations

from fastapi import APIRouter

from autoinfra.api.dashboard import pages, slack
from autoinfra.api.dashboard.bridge import lifespan
from autoinfra.security.tokens import ApiRole

__all__ = ["ROUTE_ROLES", "SIGNED_ROUTES", "router"]

router = APIRouter(lifespan=lifespan)
router.include_router(pages.router)
router.include_router(slack.router)

ROUTE_ROLES: dict[tuple[str, str], ApiRole] = {("GET", path): ApiRole.VIEWER
                                               for path in pages.PAGE_PATHS}  # fmt: skip
SIGNED_ROUTES: tuple[tuple[str, str], ...] = (("POST", slack.SLACK_PATH),)
