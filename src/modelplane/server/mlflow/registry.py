"""MLflow's model registry API on modelplane's :class:`~modelplane.registry.RegistryService`.

Stages map one to one (``None`` is ``development``); ``staging`` and ``production`` are
exclusive in modelplane, so a transition always archives the previous holder (MLflow's
``archive_existing_versions=true``). A version registered from an MLflow source becomes
a version of flavor ``mlflow`` whose files are the ones already uploaded.

Roles (issue 15): GET calls need ``reader``; creating models and versions, tags and
descriptions need ``writer``; stage transitions and aliases need ``maintainer``;
deleting models and versions needs ``admin``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from modelplane.core.errors import InvalidArgumentError
from modelplane.registry.entities import ModelVersion, RegisteredModel
from modelplane.server.deps import MAX_VERSION
from modelplane.server.mlflow import filters
from modelplane.server.mlflow.context import MlflowContext
from modelplane.server.mlflow.convert import (
    STAGE_FROM_MLFLOW,
    registered_model_json,
    version_json,
    version_source,
)
from modelplane.server.mlflow.deps import ContextDep
from modelplane.server.mlflow.errors import MlflowRoute, not_supported
from modelplane.server.mlflow.schemas import (
    AliasDeleteIn,
    AliasIn,
    LatestVersionsIn,
    ModelTagIn,
    NameIn,
    RegisteredModelIn,
    RegisteredModelUpdateIn,
    RenameIn,
    TransitionIn,
    VersionCreateIn,
    VersionIn,
    VersionTagIn,
    VersionUpdateIn,
)

__all__ = ["router"]

router = APIRouter(route_class=MlflowRoute, tags=["mlflow"])
Json = dict[str, Any]
Order = Annotated[list[str] | None, Query()]
_PAGE = 1000


def _version(value: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= MAX_VERSION:
        raise InvalidArgumentError(f"Invalid value {value!r} for parameter 'version': "
                                   f"expected a version number from 1 to {MAX_VERSION}",
                                   details={"field": "version"})
    return number


def _stage(value: str) -> str:
    stage = STAGE_FROM_MLFLOW.get(str(value).lower())
    if stage is None:
        raise InvalidArgumentError(f"Invalid Model Version stage: {value}. Value must be one "
                                   "of None, Staging, Production, Archived.",
                                   details={"field": "stage"})
    return stage


def _latest(ctx: MlflowContext, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
    """The newest version in each stage (of ``stages`` when given)."""
    wanted = None if not stages else {_stage(s) for s in stages}
    best: dict[str, ModelVersion] = {}
    for version in ctx.registry.list_versions(name, max_results=_PAGE).items:
        if (wanted is None or version.stage in wanted) and version.stage not in best:
            best[version.stage] = version
    return sorted(best.values(), key=lambda v: v.version)


# -- registered models -----------------------------------------------------------------
@router.post("/registered-models/create")
def create_model(body: RegisteredModelIn, ctx: ContextDep) -> Json:
    model = ctx.registry.create_model(body.name, description=body.description,
                                      tags={t.key: t.value for t in body.tags})
    return {"registered_model": registered_model_json(model)}


@router.get("/registered-models/get")
def get_model(name: str, ctx: ContextDep) -> Json:
    return {"registered_model": registered_model_json(ctx.registry.get_model(name),
                                                      _latest(ctx, name))}


@router.post("/registered-models/rename")
def rename_model(body: RenameIn) -> Json:
    raise not_supported("renaming a registered model",
                        "deployments and the audit log refer to models by name")


@router.patch("/registered-models/update")
def update_model(body: RegisteredModelUpdateIn, ctx: ContextDep) -> Json:
    model = ctx.registry.update_model(body.name, description=body.description)
    return {"registered_model": registered_model_json(model)}


@router.delete("/registered-models/delete")
def delete_model(body: NameIn, ctx: ContextDep) -> Json:
    ctx.registry.delete_model(body.name)
    return {}


def _all_models(ctx: MlflowContext, text: str) -> list[RegisteredModel]:
    found: list[RegisteredModel] = []
    token = None
    while True:
        page = ctx.registry.search_models(text, max_results=_PAGE, page_token=token)
        found += page.items
        token = page.next_page_token
        if token is None:
            return found


@router.get("/registered-models/search")
def search_models(ctx: ContextDep, filter: str | None = None, max_results: int = 100,
                  order_by: Order = None, page_token: str | None = None) -> Json:
    order = filters.model_order(order_by)
    text = filters.model_filter(filter)
    if order == [("name", False)]:
        page = ctx.registry.search_models(text, max_results=max(1, min(max_results, _PAGE)),
                                          page_token=page_token or None)
        out: Json = {"registered_models": [registered_model_json(m) for m in page.items]}
        if page.next_page_token:
            out["next_page_token"] = page.next_page_token
        return out
    models = _all_models(ctx, text)
    for key, descending in reversed(order):
        models.sort(key=lambda m, k=key: getattr(m, k), reverse=descending)  # type: ignore[misc]
    start = int(page_token) if page_token and page_token.isdigit() else 0
    chunk = models[start:start + max(1, max_results)]
    out = {"registered_models": [registered_model_json(m) for m in chunk]}
    if start + len(chunk) < len(models):
        out["next_page_token"] = str(start + len(chunk))
    return out


@router.post("/registered-models/set-tag")
def set_model_tag(body: ModelTagIn, ctx: ContextDep) -> Json:
    ctx.registry.set_model_tag(body.name, body.key, body.value)
    return {}


@router.delete("/registered-models/delete-tag")
def delete_model_tag(body: ModelTagIn, ctx: ContextDep) -> Json:
    ctx.registry.delete_model_tag(body.name, body.key)
    return {}


@router.post("/registered-models/alias")
def set_alias(body: AliasIn, ctx: ContextDep) -> Json:
    ctx.registry.set_alias(body.name, body.alias, _version(body.version))
    return {}


@router.delete("/registered-models/alias")
def delete_alias(body: AliasDeleteIn, ctx: ContextDep) -> Json:
    ctx.registry.delete_alias(body.name, body.alias)
    return {}


@router.get("/registered-models/alias")
def get_by_alias(name: str, alias: str, ctx: ContextDep) -> Json:
    return {"model_version": version_json(ctx.registry.get_by_alias(name, alias))}


def _latest_versions(body: LatestVersionsIn, ctx: MlflowContext) -> Json:
    return {"model_versions": [version_json(v) for v in _latest(ctx, body.name, body.stages)]}


@router.post("/registered-models/get-latest-versions")
def latest_versions(body: LatestVersionsIn, ctx: ContextDep) -> Json:
    return _latest_versions(body, ctx)


@router.get("/registered-models/get-latest-versions")
def latest_versions_get(name: str, ctx: ContextDep, stages: Order = None) -> Json:
    return _latest_versions(LatestVersionsIn(name=name, stages=stages or []), ctx)


# -- model versions --------------------------------------------------------------------
@router.post("/model-versions/create")
def create_version(body: VersionCreateIn, ctx: ContextDep) -> Json:
    version = ctx.register(body.name, body.source, run_id=body.run_id, model_id=body.model_id,
                           tags={t.key: t.value for t in body.tags},
                           description=body.description, actor="")
    return {"model_version": version_json(version)}


@router.get("/model-versions/get")
def get_version(name: str, version: str, ctx: ContextDep) -> Json:
    return {"model_version": version_json(ctx.registry.get_version(name, _version(version)))}


@router.patch("/model-versions/update")
def update_version(body: VersionUpdateIn, ctx: ContextDep) -> Json:
    found = ctx.registry.update_version(body.name, _version(body.version),
                                        description=body.description)
    return {"model_version": version_json(found)}


@router.delete("/model-versions/delete")
def delete_version(body: VersionIn, ctx: ContextDep) -> Json:
    ctx.registry.delete_version(body.name, _version(body.version), force=True)
    return {}


@router.post("/model-versions/transition-stage")
def transition_stage(body: TransitionIn, ctx: ContextDep) -> Json:
    version = ctx.registry.set_stage(body.name, _version(body.version), _stage(body.stage),
                                     reason="transition-stage (MLflow API)")
    return {"model_version": version_json(version)}


@router.get("/model-versions/search")
def search_versions(ctx: ContextDep, filter: str | None = None, max_results: int = 10_000,
                    order_by: Order = None, page_token: str | None = None) -> Json:
    page = ctx.registry.search_versions(filters.version_filter(filter),
                                        order_by=filters.version_order(order_by) or None,
                                        max_results=max(1, min(max_results, _PAGE)),
                                        page_token=page_token or None)
    out: Json = {"model_versions": [version_json(v) for v in page.items]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@router.get("/model-versions/get-download-uri")
def download_uri(name: str, version: str, ctx: ContextDep) -> Json:
    return {"artifact_uri": version_source(ctx.registry.get_version(name, _version(version)))}


@router.post("/model-versions/set-tag")
def set_version_tag(body: VersionTagIn, ctx: ContextDep) -> Json:
    ctx.registry.set_version_tag(body.name, _version(body.version), body.key, body.value)
    return {}


@router.delete("/model-versions/delete-tag")
def delete_version_tag(body: VersionTagIn, ctx: ContextDep) -> Json:
    ctx.registry.delete_version_tag(body.name, _version(body.version), body.key)
    return {}

