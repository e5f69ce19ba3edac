"""The server's side of identities: the middleware that says who is calling and audits
writes (``middleware``), the role of every route (``policy``), the dependency that checks
it (``deps``), and the admin API (``routes``). :func:`install_auth` puts them on an app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from modelplane.auth.service import AuthService

__all__ = ["install_auth"]


def install_auth(app: FastAPI, auth: AuthService, *, enabled: bool) -> None:
    """Put :class:`AuthMiddleware` in front of everything (call it last). The
    ``authorize`` dependency is given to ``FastAPI(dependencies=...)`` by ``create_app``."""
    from modelplane.server.auth.middleware import AuthMiddleware, RateLimiter

    app.state.auth_enabled = enabled
    app.state.auth_limiter = limiter = RateLimiter()  # shared with the UI's sign-in form
    app.add_middleware(AuthMiddleware, auth=auth, enabled=enabled, limiter=limiter)
