"""MLflow's REST API on modelplane's own records: the real ``mlflow`` client (tracking,
registry, MLflow 3 logged models, the artifact proxy) works against ``modelplane server``.

``router`` holds every route under ``/api/2.0/mlflow/`` (also ``/api/3.0/mlflow/``, where
MLflow 3 calls) and ``/api/2.0/mlflow-artifacts/``; a call it does not implement answers
MLflow's ``NOT_IMPLEMENTED`` (501), never a bare 404 the client reads as an internal error.
See docs/mlflow.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modelplane.core.errors import NotFoundError
from modelplane.server.mlflow import artifacts, logged_models, registry, tracking
from modelplane.server.mlflow.endpoints import is_mlflow_call
from modelplane.server.mlflow.errors import MlflowRoute, not_supported

__all__ = ["router"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

router = APIRouter()
for _prefix in ("/api/2.0/mlflow", "/api/3.0/mlflow"):
    router.include_router(tracking.router, prefix=_prefix)
    router.include_router(registry.router, prefix=_prefix)
    router.include_router(logged_models.router, prefix=_prefix)
router.include_router(artifacts.router, prefix="/api/2.0/mlflow-artifacts")

_fallback = APIRouter(route_class=MlflowRoute, tags=["mlflow"])


@_fallback.get("/api/3.0/mlflow/server-info")
def server_info() -> dict[str, Any]:
    """What this server offers the artifact client: no presigned or multipart transfers."""
    return {"multipart_uploads_enabled": False, "multipart_downloads_enabled": False,
            "artifacts_presigned_only": False}


@_fallback.api_route("/api/{version}/mlflow/{path:path}", methods=_METHODS,
                     include_in_schema=False)
@_fallback.api_route("/api/{version}/mlflow-artifacts/{path:path}", methods=_METHODS,
                     include_in_schema=False)
def unsupported(version: str, path: str) -> None:
    """A call of MLflow's API that modelplane does not implement: 501 NOT_IMPLEMENTED, as
    MLflow answers for what its store lacks. A path that is no call of MLflow's API (see
    ``endpoints``): 404 in MLflow's format, as ``mlflow server`` answers."""
    if not is_mlflow_call(path):
        raise NotFoundError(f"no MLflow endpoint {path!r} under /api/{version}/",
                            details={"path": path})
    raise not_supported(f"the MLflow call {path!r}")


router.include_router(_fallback)
