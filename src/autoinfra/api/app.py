"""The FastAPI application: routes, the app-wide authorisation, error mapping, middleware.

``create_app(service, auth)`` builds it over any :class:`ClusterService`. Every route, including
the OpenAPI document (served at ``/api/v1/openapi.json``; FastAPI's own unauthenticated docs
routes are switched off), is checked by one dependency against ``auth.ROUTE_ROLES``; a route not
in the table is refused, so a new route cannot ship open by accident. The dashboard's router
(``autoinfra.api.dashboard:router``, another module's) is mounted when present, with its own
``ROUTE_ROLES`` merged in (it may not declare public routes); its static files under ``/static``
are the only public paths besides health (the login page needs its CSS and JavaScript before
anyone is logged in; they carry no data). Routes the dashboard lists in ``SIGNED_ROUTES`` (Slack's
interaction callback) are authenticated by the caller's request signature in their own handler,
and are declared as such in the table.

Every error is JSON ``{"error": "<one line>"}`` with the status that says what went wrong:
400 malformed JSON, 401 no or bad credentials, 403 role too low / CSRF / self-approval, 404,
409 changed action (digest) or state conflict, 410 expired, 413 body too large, 422 a field
of the wrong type, unknown or missing, 429 locked out after failed logins.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from autoinfra.api import routes
from autoinfra.api.auth import (
    PUBLIC,
    ROUTE_ROLES,
    SIGNED,
    TOKEN_IN_BODY,
    Authorizer,
    HttpRefusal,
)
from autoinfra.api.middleware import BodyLimit, SecurityHeaders, ServerTiming
from autoinfra.api.service import ClusterService, Conflict, Gone, NotFound, SelfApproval
from autoinfra.core.errors import ActionError, AutoinfraError, ConfigError, PermissionDenied
from autoinfra.security.tokens import ApiRole

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


async def authorize(request: Request) -> None:
    """The app-wide dependency: who is calling, and may they call this route."""
    route = request.scope.get("route")
    path = str(getattr(route, "path", ""))
    table: dict[tuple[str, str], Any] = request.app.state.route_roles
    need = table.get((request.method, path))
    if need is None and request.method == "HEAD":
        need = table.get(("GET", path))
    if need is None:
        raise HttpRefusal(403, f"route {request.method} {path} has no declared role; refused")
    if need in (PUBLIC, TOKEN_IN_BODY, SIGNED):
        return
    auth: Authorizer = request.app.state.auth
    form_csrf = None
    ctype = request.headers.get("content-type", "")
    if request.method not in ("GET", "HEAD") and ctype.startswith(_FORM_TYPES):
        form = await request.form()
        raw = form.get("csrf_token")
        form_csrf = raw if isinstance(raw, str) else None
    client = request.client.host if request.client else "?"
    principal = auth.principal(request.method, request.headers, request.cookies, client, form_csrf)
    if not auth.allowed(principal, need):
        raise HttpRefusal(
            403,
            f"role {principal.role.value} may not {request.method} {path}; "
            f"needs {ApiRole(need).value} or above",
        )
    request.state.principal = principal


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    for e in errors:
        if e.get("type") == "json_invalid":
            return _error(400, f"malformed JSON: {e.get('ctx', {}).get('error', e.get('msg'))}")
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") != "missing":
        return _error(400, "the body must be a JSON object")
    where = ".".join(str(p) for p in first.get("loc", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return _error(422, f"{where}: {first.get('msg')}{more}")


def _refusal(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, HttpRefusal)
    page = not request.url.path.startswith("/api/") and request.method == "GET"
    if exc.status == 401 and page and (STATIC_DIR / "login.html").is_file():
        return RedirectResponse("/static/login.html", status_code=303)
    return _error(exc.status, exc.reason, exc.headers)


def _ours(_: Request, exc: Exception) -> JSONResponse:
    status = 422
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, Gone):
        status = 410
    elif isinstance(exc, Conflict):
        status = 409
    elif isinstance(exc, SelfApproval | PermissionDenied):
        status = 403
    elif isinstance(exc, ActionError):
        status = 409
    elif isinstance(exc, ConfigError):
        status = 422
    return _error(status, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


def _dashboard() -> tuple[Any, dict[tuple[str, str], Any]] | None:
    if importlib.util.find_spec("autoinfra.api.dashboard") is None:
        return None
    import autoinfra.api.dashboard as dash

    router = getattr(dash, "router", None)
    if router is None:
        return None
    roles = dict(getattr(dash, "ROUTE_ROLES", {}))
    for key, role in roles.items():
        if role in (PUBLIC, TOKEN_IN_BODY, SIGNED):
            raise ConfigError(f"dashboard route {key} may not be public", field="ROUTE_ROLES")
        ApiRole(role)
    # callbacks that carry a third party's signature instead of a token (Slack's)
    for key in getattr(dash, "SIGNED_ROUTES", ()):
        roles[tuple(key)] = SIGNED
    return router, roles


def create_app(service: ClusterService, auth: Authorizer, *, max_body_bytes: int = 65536) -> Any:
    app = FastAPI(
        title="autoinfra operator API",
        version="1",
        description="Status, approvals, overrides, incidents and audit of an autoinfra cluster. "
        "Every route but /api/v1/health needs a Bearer token or a session cookie (+ CSRF).",
        dependencies=[Depends(authorize)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service
    app.state.auth = auth
    table: dict[tuple[str, str], Any] = dict(ROUTE_ROLES)
    app.include_router(routes.router)

    @app.get("/api/v1/openapi.json", tags=["docs"], summary="This API's OpenAPI document")
    def openapi() -> dict[str, Any]:
        return app.openapi()

    dash = _dashboard()
    if dash is not None:
        app.include_router(dash[0])
        table.update(dash[1])
    if STATIC_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.route_roles = table
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HttpRefusal, _refusal)
    app.add_exception_handler(AutoinfraError, _ours)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_middleware(SecurityHeaders, tls=auth.tls)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(ServerTiming)  # outermost: includes the other middleware's time
    return app


def api_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves through FastAPI routes (for the role-matrix test).

    Walks included routers too (newer FastAPI keeps them as lazy branches of ``app.routes``).
    """
    out: list[tuple[str, str]] = []

    def walk(routes_: Any, prefix: str) -> None:
        for r in routes_:
            if isinstance(r, APIRoute | Route):
                out.extend((m, prefix + r.path) for m in sorted(r.methods or ()) if m != "HEAD")
            elif hasattr(r, "original_router"):
                ctx = getattr(r, "include_context", None)
                walk(r.original_router.routes, prefix + str(getattr(ctx, "prefix", "")))

    walk(app.routes, "")
    return out
