"""``authorize``: the app-wide dependency that checks the caller's role for the matched
route (the middleware has already said who the caller is), and the CSRF token of
cookie-authenticated writes. ``IdentityDep`` gives a route its caller."""

from __future__ import annotations

import hmac
import re
from collections.abc import MutableMapping
from typing import Annotated, Any

from fastapi import Depends, Request

from modelplane.auth.entities import Identity
from modelplane.auth.roles import role_allows
from modelplane.core.errors import PermissionDeniedError, UnauthenticatedError
from modelplane.server.auth.middleware import ANONYMOUS
from modelplane.server.auth.policy import role_for

__all__ = ["FormDep", "IdentityDep", "actor_of", "authorize", "read_form", "route_template"]

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_CONVERTER = re.compile(r"\{(\w+):\w+\}")


def route_template(scope: MutableMapping[str, Any]) -> str:
    """The matched route's full path template (``/api/v1/models/{name}``): the route
    knows its own path, and the part of the request path in front of it is its prefix."""
    route = scope.get("route")
    path: str = scope["path"]
    if route is None:
        return path
    regex = getattr(route, "path_regex", None)
    own = _CONVERTER.sub(r"{\1}", getattr(route, "path", path))  # as OpenAPI spells it
    if regex is None or regex.match(path):
        return own
    for cut in range(1, len(path)):
        if path[cut] == "/" and regex.match(path[cut:]):
            return path[:cut] + own
    return own


async def authorize(request: Request) -> None:
    scope = request.scope
    state = scope.setdefault("state", {})
    template = route_template(scope)
    state["route"] = template
    if scope["method"] not in _SAFE:
        _same_origin(request)
    if not state.get("auth_enabled") or state.get("public"):
        return
    identity: Identity | None = state.get("identity")
    if identity is None:
        raise UnauthenticatedError("no token: send Authorization: Bearer <token>",
                                   details={"reason": "missing"})
    needed = role_for(scope["method"], template)
    if needed is None:
        raise PermissionDeniedError(
            f"{scope['method']} {template} has no declared role, so it is refused to "
            "everyone (declare it in modelplane/server/auth/policy.py)",
            details={"route": template})
    if not role_allows(identity.role, needed):
        raise PermissionDeniedError(
            f"{identity.actor} ({identity.role}) may not {scope['method']} {template}: "
            f"it needs {needed}", details={"needed": needed, "role": identity.role})
    expected = state.get("csrf")
    if expected and scope["method"] not in _SAFE:
        sent = request.headers.get("x-csrf-token", "")
        if not sent and "form" in request.headers.get("content-type", ""):
            sent = (await read_form(request)).get("csrf_token", "")

        if not hmac.compare_digest(sent, expected):
            raise PermissionDeniedError("missing or wrong CSRF token: reload the page and "
                                        "try again", details={"field": "csrf_token"})


def _same_origin(request: Request) -> None:
    """A browser's write from another site is refused, auth on or off: a form post is a
    "simple" cross-site request that needs no CORS preflight, so without this a page
    elsewhere could drive a local server without auth (or ride a session cookie). The
    browser's ``Sec-Fetch-Site`` decides (robust behind proxies); older browsers' ``Origin``
    is compared with the host. Clients that are not browsers send neither."""
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise PermissionDeniedError(f"cross-site request refused ({site})",
                                        details={"field": "origin"})
        return
    origin = headers.get("origin")
    if origin is None:
        return
    hosts = {headers.get("host", ""), headers.get("x-forwarded-host", "")}
    if origin == "null" or origin.split("://", 1)[-1] not in hosts:
        raise PermissionDeniedError(f"cross-site request from {origin} refused",
                                    details={"field": "origin"})


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (first value of each
    field); the body is cached on the request, so the route reads it again for free."""
    from urllib.parse import parse_qsl

    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        return {}
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def _identity(request: Request) -> Identity:
    return request.scope.get("state", {}).get("identity") or ANONYMOUS  # type: ignore[no-any-return]


IdentityDep = Annotated[Identity, Depends(_identity)]


def actor_of(identity: Identity, claimed: str = "") -> str:
    """Who the registry's and deployments' own histories name: the token's identity when
    auth is on (never what the body claims); without auth, what the caller says."""
    return claimed if identity is ANONYMOUS else identity.actor


FormDep = Annotated[dict[str, str], Depends(read_form)]
