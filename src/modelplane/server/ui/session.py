"""The UI's sign-in and its actions: log in with a token, the audit page, and the
registry's moves (stage, alias, rollback) as confirmed forms with a reason.

Signing in puts the token in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure``
over HTTPS); every form carries the session's CSRF token (``middleware.csrf_token``),
checked by ``authorize`` before the route runs, so a forged cross-site post is refused.
An action is one service call (one transaction): it happens whole or not at all, and the
server's refusal (a conflict, a failed gate, a missing role) is shown on the page it
came from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from modelplane.auth.roles import role_allows
from modelplane.core.errors import ModelplaneError, UnauthenticatedError
from modelplane.server.auth.deps import FormDep, IdentityDep, actor_of
from modelplane.server.auth.middleware import SESSION_COOKIE, RateLimiter
from modelplane.server.deps import ClientDep
from modelplane.server.ui.render import UIRoute, page

__all__ = ["router", "ui_session"]

router = APIRouter(route_class=UIRoute, include_in_schema=False,
                   default_response_class=HTMLResponse)


def ui_session(request: Request) -> dict[str, Any]:
    """What a page needs to show actions: the user, whether they may act, the CSRF token."""
    state = request.scope.get("state", {})
    identity = state.get("identity")
    enabled = bool(state.get("auth_enabled"))
    return {"user": identity.actor if enabled and identity else "",
            "role": identity.role if identity else "",
            "can_act": bool(identity) and role_allows(identity.role, "maintainer"),
            "is_admin": bool(identity) and role_allows(identity.role, "admin"),
            "csrf": state.get("csrf", ""), "auth_enabled": enabled}


def _next(target: str) -> str:
    """Only a path on this server (never ``//host`` or a scheme): no open redirect."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return page("login.html", "", next=_next(next), error="",
                auth_enabled=bool(request.app.state.auth_enabled))


@router.post("/login", response_model=None)
async def login(request: Request, form: FormDep) -> HTMLResponse | RedirectResponse:
    target = _next(form.get("next", "/"))
    if not request.app.state.auth_enabled:
        return RedirectResponse(target, status_code=303)
    limiter: RateLimiter = request.app.state.auth_limiter
    client = request.scope.get("client")
    source = str(client[0]) if client else ""
    auth = request.app.state.client.auth
    if limiter.blocked(source):
        return page("login.html", "", status=429, next=target, auth_enabled=True,
                    error="too many failed logins from this address; try again in a minute")
    token = form.get("token", "").strip()
    try:
        identity = await asyncio.to_thread(auth.authenticate, token)
        if not role_allows(identity.role, "reader"):
            raise UnauthenticatedError("this token may only call the serving routes",
                                       details={"reason": "scope"})
    except UnauthenticatedError as exc:
        limiter.fail(source)
        await asyncio.to_thread(auth.record, [{
            "actor": "", "source": source, "action": "login.failed", "target": "/login",
            "status": 401, "reason": exc.details.get("reason", "")}])
        return page("login.html", "", status=401, next=target, auth_enabled=True,
                    error=f"sign-in refused: {exc.message}")
    await asyncio.to_thread(auth.record, [{
        "actor": identity.actor, "source": source, "action": "login", "target": "/login",
        "status": 303}])
    response = RedirectResponse(target, status_code=303)
    max_age = None
    if identity.expires_at is not None:
        from modelplane.core.timeutil import utcnow

        max_age = max(1, int((identity.expires_at - utcnow()).total_seconds()))
    response.set_cookie(SESSION_COOKIE, quote(token, safe=""), max_age=max_age, path="/",
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/audit")
def audit_page(request: Request, client: ClientDep, actor: str = "", action: str = "",
               target: str = "", since: str = "",
               limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> HTMLResponse:
    error = ""
    try:
        entries = client.auth.audit(actor=actor or None, action=action or None,
                                    target=target or None, since=since or None, limit=limit)
    except ModelplaneError as exc:
        error, entries = exc.message, []
    return page("audit.html", "audit", entries=entries, error=error, actor=actor,
                action=action, target=target, since=since, limit=limit,
                **ui_session(request))


def _back(name: str, *, error: str = "", notice: str = "",
          section: str = "models") -> RedirectResponse:
    query = urlencode({"error": error} if error else {"notice": notice})
    return RedirectResponse(f"/{section}/{quote(name, safe='')}?{query}", status_code=303)


def _reason(form: dict[str, str]) -> str:
    reason = form.get("reason", "").strip()
    if not reason:
        from modelplane.core.errors import InvalidArgumentError

        raise InvalidArgumentError("reason: say why (it goes into the audit log)",
                                   details={"field": "reason"})
    return reason


def _act(request: Request, name: str, reason: str, action: Callable[[], str],
         section: str = "models") -> RedirectResponse:
    request.scope["state"]["audit_reason"] = reason
    try:
        notice = action()
    except ModelplaneError as exc:
        return _back(name, error=exc.message, section=section)
    return _back(name, notice=str(notice), section=section)


@router.post("/models/{name}/versions/{version}/stage")
def ui_set_stage(request: Request, name: str, version: int, form: FormDep,
                 client: ClientDep, identity: IdentityDep) -> RedirectResponse:
    stage = form.get("stage", "")
    try:
        reason = _reason(form)
    except ModelplaneError as exc:
        return _back(name, error=exc.message)
    def run() -> str:
        client.registry.set_stage(name, version, stage, actor=actor_of(identity),
                                  reason=reason)
        return f"version {version} is now in {stage}"

    return _act(request, name, reason, run)


@router.post("/models/{name}/rollback")
def ui_rollback(request: Request, name: str, form: FormDep, client: ClientDep,
                identity: IdentityDep) -> RedirectResponse:
    stage = form.get("stage", "production")
    try:
        reason = _reason(form)
    except ModelplaneError as exc:
        return _back(name, error=exc.message)

    def run() -> str:
        back = client.registry.rollback(name, stage, actor=actor_of(identity), reason=reason)
        return f"{stage} rolled back to version {back.version}"

    return _act(request, name, reason, run)


@router.post("/models/{name}/aliases")
def ui_set_alias(request: Request, name: str, form: FormDep, client: ClientDep,
                 identity: IdentityDep) -> RedirectResponse:
    alias, version = form.get("alias", "").strip(), form.get("version", "")
    try:
        reason = _reason(form)
    except ModelplaneError as exc:
        return _back(name, error=exc.message)
    def run() -> str:
        client.registry.set_alias(name, alias, version, actor=actor_of(identity))
        return f"@{alias} now points at version {version}"

    return _act(request, name, reason, run)


@router.post("/models/{name}/aliases/{alias}/delete")
def ui_delete_alias(request: Request, name: str, alias: str, form: FormDep,
                    client: ClientDep, identity: IdentityDep) -> RedirectResponse:
    try:
        reason = _reason(form)
    except ModelplaneError as exc:
        return _back(name, error=exc.message)
    def run() -> str:
        client.registry.delete_alias(name, alias, actor=actor_of(identity))
        return f"@{alias} removed"

    return _act(request, name, reason, run)


# -- deployments: canary promote / abort, blue/green switch ------------------------------
_DEPLOYMENT_ACTIONS = ("promote", "abort", "switch", "switch-back")


@router.post("/deployments/{name}/{action}")
def ui_deployment_action(request: Request, name: str, action: str, form: FormDep,
                         client: ClientDep, identity: IdentityDep) -> RedirectResponse:
    """One deployment action (``promote``/``abort`` a canary, ``switch`` to a variant,
    ``switch-back``); the service refuses what the deployment's state does not allow."""
    if action not in _DEPLOYMENT_ACTIONS:
        from modelplane.core.errors import NotFoundError

        raise NotFoundError(f"no deployment action {action!r}")
    try:
        reason = _reason(form)
    except ModelplaneError as exc:
        return _back(name, error=exc.message, section="deployments")
    service, actor = client.deployments, actor_of(identity)

    def run() -> str:
        if action == "promote":
            service.promote(name, actor=actor, reason=reason)
            return "canary promoted"
        if action == "abort":
            service.abort(name, reason=reason, actor=actor)
            return "canary aborted: traffic is back on the baseline"
        if action == "switch":
            service.switch(name, form.get("to", ""), actor=actor, reason=reason)
            return f"switched to {form.get('to', '')}"
        service.switch_back(name, actor=actor, reason=reason)
        return "switched back"

    return _act(request, name, reason, run, section="deployments")
