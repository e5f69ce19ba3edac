"""``AuthMiddleware``: who is calling, before anything else runs, and the audit of writes.

Pure ASGI, outermost (in front of the serving layer). For every HTTP request it

1. lets public paths through (``policy.PUBLIC_PATHS``: probes, login page, API docs);
2. answers 429 to an address with too many failed logins in the last minute;
3. takes the bearer token from ``Authorization: Bearer`` or the UI's session cookie and
   checks it (:meth:`AuthService.authenticate`: cached, so microseconds; the first check
   of a token hashes it in a thread), answering 401 with the reason when it fails;
4. checks the serving layer's paths (``/predict``, ``/v2``: the ``predict`` scope or any
   role; ``/metrics``: reader) itself, and leaves every FastAPI route to
   :func:`~modelplane.server.auth.deps.authorize`, which knows the matched route;
5. after a write (POST, PUT, PATCH, DELETE; not predictions or run heartbeats) is
   answered, appends an audit entry: who (user/token), from where, the route, the
   target, the status, the reason (header ``x-modelplane-reason`` or what the route set).

With auth off (a loopback server without ``--auth``) every caller is ``anonymous`` with
every role, and writes are still audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import quote, unquote

from modelplane.auth.entities import Identity
from modelplane.auth.roles import role_allows
from modelplane.auth.service import AuthService
from modelplane.core.errors import UnauthenticatedError
from modelplane.server.auth.policy import PUBLIC_PATHS, PUBLIC_PREFIXES, serving_role

__all__ = ["ANONYMOUS", "SESSION_COOKIE", "AuthMiddleware", "RateLimiter", "csrf_token"]

log = logging.getLogger("modelplane.server")
ANONYMOUS = Identity(user="anonymous", role="admin")
SESSION_COOKIE = "mp_session"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HINT = "send Authorization: Bearer <token> (remote clients: set MODELPLANE_TOKEN)"

Scope = dict[str, Any]
_MLFLOW_CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 429: "REQUEST_LIMIT_EXCEEDED"}


def csrf_token(token: str) -> str:
    """The CSRF token of a session: derived from its (HttpOnly, unreadable) token, so a
    forged cross-site form cannot know it, and every replica computes the same."""
    return hmac.new(token.encode(), b"modelplane-csrf", hashlib.sha256).hexdigest()


class RateLimiter:
    """At most ``limit`` failed logins per address per ``window`` seconds."""

    def __init__(self, limit: int = 20, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, address: str) -> bool:
        failures = self._failures.get(address)
        if not failures:
            return False
        cutoff = time.monotonic() - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return False
        return len(failures) >= self.limit

    def fail(self, address: str) -> None:
        if len(self._failures) > 100_000:  # a flood of addresses: forget, do not grow
            self._failures.clear()
        self._failures.setdefault(address, deque()).append(time.monotonic())


def _credentials(scope: Scope) -> tuple[str | None, bool]:
    """``(token, from_cookie)``: the bearer header wins over the session cookie."""
    cookie = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1").strip()
            scheme, _, token = text.partition(" ")
            return (token.strip() if scheme.lower() == "bearer" else text), False
        if name == b"cookie":
            cookie = value.decode("latin-1")
    if cookie:
        for part in cookie.split(";"):
            key, _, val = part.strip().partition("=")
            if key == SESSION_COOKIE and val:
                return unquote(val), True
    return None, False


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return ""


def _source(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


class AuthMiddleware:
    def __init__(self, app: Any, *, auth: AuthService, enabled: bool,
                 limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.auth = auth
        self.enabled = enabled
        self.limiter = limiter or RateLimiter()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["auth_enabled"] = self.enabled
        path: str = scope["path"]
        if not self.enabled:
            state["identity"] = ANONYMOUS
            await self._audited(scope, receive, send, ANONYMOUS)
            return
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            state["public"] = True
            await self.app(scope, receive, send)
            return
        source = _source(scope)
        if self.limiter.blocked(source):
            await _refuse(scope, send, 429, "too_many_requests",
                          "too many failed logins from this address; try again in a minute",
                          {"retry_after_seconds": int(self.limiter.window)},
                          [(b"retry-after", str(int(self.limiter.window)).encode())])
            return
        token, from_cookie = _credentials(scope)
        if token is None:
            await self._no_token(scope, send)
            return
        try:
            identity = self.auth.cached(token)
            if identity is None:  # first sight of this token here: hash it off the loop
                identity = await asyncio.to_thread(self.auth.authenticate, token)
        except UnauthenticatedError as exc:
            self.limiter.fail(source)
            await self._record({"actor": "", "source": source, "action": "login.failed",
                                "target": path, "status": 401,
                                "reason": exc.details.get("reason", ""),
                                "request_id": state.get("request_id", "")})
            await _refuse(scope, send, 401, exc.code, f"{exc.message}; {_HINT}", exc.details,
                          [(b"www-authenticate", b'Bearer error="invalid_token"')])
            return
        state["identity"] = identity
        if from_cookie:
            state["csrf"] = csrf_token(token)
        needed = serving_role(path)
        if needed is not None and not role_allows(identity.role, needed):
            await _refuse(scope, send, 403, "permission_denied",
                          f"{identity.actor} ({identity.role}) may not call {path}: "
                          f"it needs {needed}", {"needed": needed, "role": identity.role})
            return
        await self._audited(scope, receive, send, identity)

    async def _no_token(self, scope: Scope, send: Any) -> None:
        accept = _header(scope, b"accept")
        if scope["method"] == "GET" and "text/html" in accept:
            target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}"
                                      if scope.get("query_string") else "")
            await send({"type": "http.response.start", "status": 303, "headers": [
                (b"location", f"/login?next={quote(target, safe='')}".encode()),
                (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await _refuse(scope, send, 401, "unauthenticated", f"no token: {_HINT}",
                      {"reason": "missing"}, [(b"www-authenticate", b"Bearer")])

    async def _audited(self, scope: Scope, receive: Any, send: Any,
                       identity: Identity) -> None:
        method = scope["method"]
        path: str = scope["path"]
        if (method not in _UNSAFE or serving_role(path) == "predict"
                or path.endswith("/heartbeat")):  # a run saying it is alive is no change
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            state = scope["state"]
            reason = state.get("audit_reason") or unquote(_header(scope, b"x-modelplane-reason"))
            actor = state.get("identity", identity)
            await self._record({"actor": actor.actor, "source": _source(scope),
                                "action": f"{method} {state.get('route', path)}",
                                "target": path, "status": status, "reason": reason,
                                "request_id": state.get("request_id", ""),
                                "details": state.get("audit_details") or {}})

    async def _record(self, entry: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(self.auth.record, [entry])
        except Exception:  # the answer is sent; a lost audit row is logged, never raised
            log.exception("audit: could not record %s", entry.get("action"))


async def _refuse(scope: Scope, send: Any, status: int, code: str, message: str,
                  details: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
                  ) -> None:
    path = scope["path"]
    if path.startswith("/v2"):  # the Open Inference Protocol's error shape
        body = json.dumps({"error": message}).encode()
    elif "/mlflow" in path and path.startswith(("/api/", "/ajax-api/")):  # MLflow's shape
        body = json.dumps({"error_code": _MLFLOW_CODES.get(status, "INTERNAL_ERROR"),
                           "message": message}).encode()
    else:
        body = json.dumps({"error": {"code": code, "message": message,
                                     "details": details}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
