"""``/api/v1/models`` and ``/api/v1/model-versions``: the model registry over HTTP.

Handlers parse, call :class:`~modelplane.registry.service.RegistryService`, and return a
schema; errors travel as the modelplane error envelope (404 unknown model or version,
409 conflicts, 422 bad input naming the field).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from modelplane.server.auth.deps import IdentityDep, actor_of
from modelplane.server.deps import RegistryDep, VersionPath, VersionQuery
from modelplane.server.schemas.registry import (
    AliasOut,
    AliasUpdate,
    AllowPickleUpdate,
    AuditEntryListOut,
    AuditEntryOut,
    ModelVersionCreate,
    ModelVersionListOut,
    ModelVersionOut,
    ModelVersionUpdate,
    RegisteredModelCreate,
    RegisteredModelListOut,
    RegisteredModelOut,
    RegisteredModelUpdate,
    RollbackCreate,
    StageUpdate,
    TagUpdate,
)

router = APIRouter(tags=["registry"])

MaxResults = Annotated[int, Query(ge=1, le=1000)]
Actor = Annotated[str, Query(max_length=128)]


def _version_out(version: object) -> ModelVersionOut:
    return ModelVersionOut.model_validate(version)


# -- registered models ------------------------------------------------------------------


@router.get("/models/resolve", response_model=ModelVersionOut)
def resolve_model_uri(registry: RegistryDep, uri: str) -> ModelVersionOut:
    """The version ``uri`` names: ``models:/NAME:3``, ``models:/NAME@ALIAS`` or
    ``models:/NAME@STAGE``."""
    return _version_out(registry.resolve(uri))


@router.get("/models", response_model=RegisteredModelListOut)
def list_models(registry: RegistryDep, filter: str = "", max_results: MaxResults = 100,
                page_token: str | None = None) -> RegisteredModelListOut:
    page = registry.search_models(filter, max_results=max_results, page_token=page_token)
    return RegisteredModelListOut(
        models=[RegisteredModelOut.model_validate(m) for m in page.items],
        next_page_token=page.next_page_token)


@router.post("/models", response_model=RegisteredModelOut, status_code=201)
def create_model(registry: RegistryDep, body: RegisteredModelCreate) -> RegisteredModelOut:
    model = registry.create_model(body.name, description=body.description, tags=body.tags)
    return RegisteredModelOut.model_validate(model)


@router.get("/models/{name}", response_model=RegisteredModelOut)
def get_model(registry: RegistryDep, name: str) -> RegisteredModelOut:
    return RegisteredModelOut.model_validate(registry.get_model(name))


@router.patch("/models/{name}", response_model=RegisteredModelOut)
def update_model(registry: RegistryDep, name: str,
                 body: RegisteredModelUpdate) -> RegisteredModelOut:
    return RegisteredModelOut.model_validate(
        registry.update_model(name, description=body.description))


@router.delete("/models/{name}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
def delete_model(identity: IdentityDep,
                 registry: RegistryDep, name: str, actor: Actor = "") -> Response:
    registry.delete_model(name, actor=actor_of(identity, actor))
    return Response(status_code=204)


@router.put("/models/{name}/tags/{key:path}", response_model=RegisteredModelOut)
def set_model_tag(registry: RegistryDep, name: str, key: str,
                  body: TagUpdate) -> RegisteredModelOut:
    return RegisteredModelOut.model_validate(registry.set_model_tag(name, key, body.value))


@router.delete("/models/{name}/tags/{key:path}", response_model=RegisteredModelOut)
def delete_model_tag(registry: RegistryDep, name: str, key: str) -> RegisteredModelOut:
    return RegisteredModelOut.model_validate(registry.delete_model_tag(name, key))


@router.put("/models/{name}/allow-pickle", response_model=RegisteredModelOut)
def set_allow_pickle(registry: RegistryDep, name: str,
                     body: AllowPickleUpdate) -> RegisteredModelOut:
    """Let servers load this model's pickle-stored versions (an admin's setting)."""
    return RegisteredModelOut.model_validate(registry.set_allow_pickle(name, body.allowed))


# -- versions -----------------------------------------------------------------------------


@router.get("/models/{name}/versions", response_model=ModelVersionListOut)
def list_versions(registry: RegistryDep, name: str, max_results: MaxResults = 100,
                  page_token: str | None = None) -> ModelVersionListOut:
    page = registry.list_versions(name, max_results=max_results, page_token=page_token)
    return ModelVersionListOut(versions=[_version_out(v) for v in page.items],
                               next_page_token=page.next_page_token)


@router.post("/models/{name}/versions", response_model=ModelVersionOut, status_code=201)
def create_version(registry: RegistryDep, name: str,
                   body: ModelVersionCreate) -> ModelVersionOut:
    """Register the next version (the model is created if needed)."""
    return _version_out(registry.create_version(name, **body.model_dump()))


@router.get("/models/{name}/versions/{version}", response_model=ModelVersionOut)
def get_version(registry: RegistryDep, name: str, version: VersionPath) -> ModelVersionOut:
    return _version_out(registry.get_version(name, version))


@router.patch("/models/{name}/versions/{version}", response_model=ModelVersionOut)
def update_version(registry: RegistryDep, name: str, version: VersionPath,
                   body: ModelVersionUpdate) -> ModelVersionOut:
    return _version_out(registry.update_version(name, version, description=body.description))


@router.delete("/models/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
def delete_version(identity: IdentityDep,
                   registry: RegistryDep, name: str, version: VersionPath, force: bool = False,
                   actor: Actor = "") -> Response:
    """Delete a version (``force=true`` for one in production) and its unshared artifacts."""
    registry.delete_version(name, version, force=force, actor=actor_of(identity, actor))
    return Response(status_code=204)


@router.put("/models/{name}/versions/{version}/tags/{key:path}",
            response_model=ModelVersionOut)
def set_version_tag(registry: RegistryDep, name: str, version: VersionPath, key: str,
                    body: TagUpdate) -> ModelVersionOut:
    return _version_out(registry.set_version_tag(name, version, key, body.value))


@router.delete("/models/{name}/versions/{version}/tags/{key:path}",
               response_model=ModelVersionOut)
def delete_version_tag(registry: RegistryDep, name: str, version: VersionPath,
                       key: str) -> ModelVersionOut:
    return _version_out(registry.delete_version_tag(name, version, key))


@router.get("/model-versions/search", response_model=ModelVersionListOut)
def search_versions(registry: RegistryDep, filter: str = "", order_by: str | None = None,
                    max_results: MaxResults = 100,
                    page_token: str | None = None) -> ModelVersionListOut:
    page = registry.search_versions(filter, order_by=order_by, max_results=max_results,
                                    page_token=page_token)
    return ModelVersionListOut(versions=[_version_out(v) for v in page.items],
                               next_page_token=page.next_page_token)


# -- stages, aliases, rollback, history ---------------------------------------------------


@router.post("/models/{name}/versions/{version}/stage", response_model=ModelVersionOut)
def set_stage(identity: IdentityDep,
              registry: RegistryDep, name: str, version: VersionPath,
              body: StageUpdate) -> ModelVersionOut:
    actor = actor_of(identity, body.actor)
    return _version_out(registry.set_stage(name, version, body.stage, actor=actor,
                                           reason=body.reason))


@router.post("/models/{name}/rollback", response_model=ModelVersionOut)
def rollback(identity: IdentityDep,
             registry: RegistryDep, name: str, body: RollbackCreate) -> ModelVersionOut:
    return _version_out(registry.rollback(name, body.stage, actor=actor_of(identity, body.actor),
                                          reason=body.reason))


@router.put("/models/{name}/aliases/{alias}", response_model=AliasOut)
def set_alias(identity: IdentityDep,
              registry: RegistryDep, name: str, alias: str, body: AliasUpdate) -> AliasOut:
    registry.set_alias(name, alias, body.version, actor=actor_of(identity, body.actor))
    return AliasOut(name=name, alias=alias, version=body.version)


@router.get("/models/{name}/aliases/{alias}", response_model=ModelVersionOut)
def get_by_alias(registry: RegistryDep, name: str, alias: str) -> ModelVersionOut:
    return _version_out(registry.get_by_alias(name, alias))


@router.delete("/models/{name}/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
def delete_alias(identity: IdentityDep,
                 registry: RegistryDep, name: str, alias: str, actor: Actor = "") -> Response:
    registry.delete_alias(name, alias, actor=actor_of(identity, actor))
    return Response(status_code=204)


@router.get("/models/{name}/history", response_model=AuditEntryListOut)
def history(registry: RegistryDep, name: str, version: VersionQuery = None,
            limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> AuditEntryListOut:
    """The audit log, oldest first (the newest ``limit`` entries)."""
    entries = registry.history(name, version, limit=limit)
    return AuditEntryListOut(entries=[AuditEntryOut.model_validate(e) for e in entries])
