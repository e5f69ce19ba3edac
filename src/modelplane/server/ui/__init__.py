"""The web UI: read-only, server-rendered pages over the same services as the REST API.

``install_ui(app)`` mounts the pages at ``/`` (experiments and runs, run comparison,
models, deployments, monitoring, features, pipelines), the one CSS and one JS file under
``/static/``, and an HTML 404 page for unknown paths that a browser asks for. Only the
full server gets it (``modelplane server``); a serving replica (``modelplane serve``)
does not. Templates and static files ship inside this package: no CDN, no build step.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import Response

__all__ = ["install_ui"]

#: Paths that always answer as the API does (JSON errors), whatever the client accepts.
_API_PATHS = ("/api/", "/v2", "/predict/", "/metrics", "/openapi.json", "/docs", "/redoc",
              "/static/")


def install_ui(app: FastAPI) -> None:
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.staticfiles import StaticFiles

    from modelplane.server.ui import artifacts, catalog, operations, registry, session, tracking
    from modelplane.server.ui.render import HERE

    for module in (session, artifacts, tracking, registry, operations, catalog):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    json_handler = app.exception_handlers[StarletteHTTPException]

    async def not_found(request: Request, exc: Exception) -> Response:
        """A browser asking for an unknown page gets the UI's 404 page; API clients (and
        every API path) keep the JSON envelope."""
        from modelplane.server.ui.render import error_page

        status = getattr(exc, "status_code", 500)
        path = request.url.path
        wants_html = "text/html" in request.headers.get("accept", "")
        if status == 404 and wants_html and not path.startswith(_API_PATHS):
            return error_page(404, f"no page at {path}")
        result: Any = json_handler(request, exc)
        return await result if inspect.isawaitable(result) else result  # type: ignore[no-any-return]

    app.add_exception_handler(StarletteHTTPException, not_found)
