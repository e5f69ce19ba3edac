"""The FastAPI application: REST API under ``/api/v1``, serving routes, ``/metrics``, UI.

``create_app()`` builds everything from settings at call time (nothing at import time),
so tests and several replicas can build independent apps.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from modelplane.__about__ import __version__
from modelplane.core.config import Settings, get_settings
from modelplane.server.auth.deps import authorize
from modelplane.server.errors import check_json_body, install_error_handlers
from modelplane.server.middleware import BodyLimitMiddleware, RequestIdMiddleware

__all__ = ["create_app"]

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, *, serve: list[Any] | None = None,
               serving_only: bool = False, serving: dict[str, Any] | None = None,
               auth: bool | None = None) -> FastAPI:
    """Build the modelplane server application for ``settings`` (default: configured).

    The app builds one :class:`~modelplane.client.Client` (embedded, whatever the
    settings say: a server is where remote clients point) and every route and the serving
    layer use its services. ``serve``: model URIs (or ``ServeSpec``) for the serving
    routes, with ``serving`` defaults; ``serving_only``: a serving replica, with only the
    serving routes, health and ``/metrics`` (no catalogue routes, no UI). ``auth``: check
    tokens and roles on every route (default: ``settings.auth``; ``modelplane server``
    turns it on for any non-loopback address); writes are audited either way."""
    settings = settings or get_settings()
    if settings.server_url:  # the server is where remote clients point: never remote itself
        if settings is get_settings():
            from modelplane.core.config import configure

            configure(server_url="")  # what builds Client() in this process sees it too
        settings = settings.model_copy(update={"server_url": ""})
    app = FastAPI(
        title="modelplane",
        version=__version__,
        description="Tracking, registry, features, pipelines, serving and monitoring.",
        openapi_url="/openapi.json",
        # the role of every route (server/auth/policy.py), then no JSON number past 64 bits
        dependencies=[Depends(authorize), Depends(check_json_body)],
    )
    app.state.settings = settings
    from modelplane.client import Client

    client = Client(settings, remote=False)  # the one wiring of this process
    app.state.client = client
    install_error_handlers(app)
    from modelplane.server.routes import health

    app.include_router(health.router, prefix=API_PREFIX)
    if not serving_only:  # a serving replica (`modelplane serve`) has no catalogue or UI
        _include_catalogue(app)
    # Outermost first: the request id is set before anything can fail.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes,
                       max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestIdMiddleware)
    from modelplane.server.routes.serving import install_serving

    install_serving(app, client, serve, serving_only=serving_only, defaults=serving)
    from modelplane.server.openapi import install_openapi

    install_openapi(app)  # errors as sent, and the serving routes described
    from modelplane.server.auth import install_auth

    install_auth(app, client.auth, enabled=settings.auth if auth is None else auth)
    return app


def _include_catalogue(app: FastAPI) -> None:
    from modelplane.server.auth import routes as auth_routes
    from modelplane.server.routes import (
        artifacts,
        deployments,
        features,
        monitoring,
        pipelines,
        registry,
        tracking,
    )
    from modelplane.server.ui import install_ui

    for module in (registry, tracking, features, monitoring, pipelines, deployments,
                   artifacts, auth_routes):
        app.include_router(module.router, prefix=API_PREFIX)
    from modelplane.server.mlflow import router as mlflow_router

    app.include_router(mlflow_router)  # MLflow's REST API, /api/2.0/mlflow/ (docs/mlflow.md)
    install_ui(app)
