"""MLflow 3's logged models (``/mlflow/logged-models``): what ``log_model`` creates, fills
through the artifact proxy, finalizes, and registers a version from.

Roles (issue 15): GET and search need ``reader``; create, finalize, tags and params need
``writer``; delete needs ``admin``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modelplane.core.errors import InvalidArgumentError
from modelplane.server.mlflow import filters
from modelplane.server.mlflow.context import Target
from modelplane.server.mlflow.convert import logged_model_json
from modelplane.server.mlflow.deps import ContextDep
from modelplane.server.mlflow.errors import MlflowRoute
from modelplane.server.mlflow.schemas import (
    LoggedModelCreateIn,
    LoggedModelFinalizeIn,
    LoggedModelParamsIn,
    LoggedModelTagsIn,
    SearchLoggedModelsIn,
)

__all__ = ["router"]

router = APIRouter(route_class=MlflowRoute, tags=["mlflow"])
Json = dict[str, Any]
_STATUS = {"LOGGED_MODEL_PENDING": "pending", "LOGGED_MODEL_READY": "ready",
           "LOGGED_MODEL_UPLOAD_FAILED": "failed", "1": "pending", "2": "ready", "3": "failed"}


@router.post("/logged-models")
def create(body: LoggedModelCreateIn, ctx: ContextDep) -> Json:
    run = ctx.tracking.get_run(body.source_run_id) if body.source_run_id else None
    exp = ctx.experiment(run.experiment_id if run and body.experiment_id == "0"
                         else body.experiment_id)
    model = ctx.logged.create(exp.id, body.name[:256] or "model",
                              run_id=run.id if run else None, model_type=body.model_type[:256],
                              tags={t.key: t.value for t in body.tags},
                              params={p.key: p.value for p in body.params})
    return {"model": logged_model_json(model)}


@router.post("/logged-models/search")
def search(body: SearchLoggedModelsIn, ctx: ContextDep) -> Json:
    """Newest first; the filter (``name = 'model'``, ``tags.k = 'v'``...) is evaluated on
    the experiments' logged models."""
    ids = [ctx.experiment(e).id for e in body.experiment_ids] or None
    start = int(body.page_token) if body.page_token and body.page_token.isdigit() else 0
    match = filters.logged_model_matches(body.filter)
    found = [m for m in ctx.logged.search(ids, limit=100_000) if match(m)]
    found = found[start:start + body.max_results + 1]
    out: Json = {"models": [logged_model_json(m) for m in found[:body.max_results]]}
    if len(found) > body.max_results:
        out["next_page_token"] = str(start + body.max_results)
    return out


@router.get("/logged-models/{model_id}")
def get(model_id: str, ctx: ContextDep) -> Json:
    return {"model": logged_model_json(ctx.logged.get(model_id))}


@router.patch("/logged-models/{model_id}")
def finalize(model_id: str, body: LoggedModelFinalizeIn, ctx: ContextDep) -> Json:
    status = _STATUS.get(str(body.status).upper())
    if status is None:
        raise InvalidArgumentError(f"Invalid value {body.status!r} for parameter 'status'",
                                   details={"field": "status"})
    return {"model": logged_model_json(ctx.logged.update(model_id, status=status))}


@router.delete("/logged-models/{model_id}")
def delete(model_id: str, ctx: ContextDep) -> Json:
    ctx.logged.delete(model_id)
    return {}


@router.patch("/logged-models/{model_id}/tags")
def set_tags(model_id: str, body: LoggedModelTagsIn, ctx: ContextDep) -> Json:
    ctx.logged.update(model_id, set_tags={t.key: t.value for t in body.tags})
    return {}


@router.delete("/logged-models/{model_id}/tags/{tag_key:path}")
def delete_tag(model_id: str, tag_key: str, ctx: ContextDep) -> Json:
    ctx.logged.update(model_id, delete_tag=tag_key)
    return {}


@router.post("/logged-models/{model_id}/params")
def log_params(model_id: str, body: LoggedModelParamsIn, ctx: ContextDep) -> Json:
    ctx.logged.update(model_id, params={p.key: p.value for p in body.params})
    return {}


@router.get("/logged-models/{model_id}/artifacts/directories")
def list_artifacts(model_id: str, ctx: ContextDep, artifact_directory_path: str = "") -> Json:
    from modelplane.server.mlflow.artifacts import listing

    rel = artifact_directory_path.strip("/")
    files = listing(ctx.files(Target("model", model_id, "")), rel)
    return {"root_uri": logged_model_json(ctx.logged.get(model_id))["info"]["artifact_uri"],
            "files": [{**f, "path": f"{rel}/{f['path']}" if rel else f["path"]}
                      for f in files]}
