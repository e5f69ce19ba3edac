"""API schemas of the model registry (``/api/v1/models``, ``/api/v1/model-versions``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AliasOut",
    "AliasUpdate",
    "AllowPickleUpdate",
    "AuditEntryListOut",
    "AuditEntryOut",
    "ModelVersionCreate",
    "ModelVersionListOut",
    "ModelVersionOut",
    "ModelVersionUpdate",
    "RegisteredModelCreate",
    "RegisteredModelListOut",
    "RegisteredModelOut",
    "RegisteredModelUpdate",
    "RollbackCreate",
    "StageUpdate",
    "TagUpdate",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, protected_namespaces=())


class RegisteredModelCreate(_In):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class RegisteredModelUpdate(_In):
    description: str


class TagUpdate(_In):
    value: str


class AllowPickleUpdate(_In):
    allowed: bool


class RegisteredModelOut(_Out):
    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    latest_version: int | None
    tags: dict[str, str]
    aliases: dict[str, int]
    allow_pickle: bool = False


class RegisteredModelListOut(BaseModel):
    models: list[RegisteredModelOut]
    next_page_token: str | None = None


class ModelVersionCreate(_In):
    """A new version of an artifact already uploaded (``artifact_digest``)."""

    artifact_digest: str
    flavor: str
    size: int = 0
    run_id: str | None = None
    signature: dict[str, Any] | None = None
    input_example: Any = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    datasets: list[dict[str, Any]] = Field(default_factory=list)
    model_meta: dict[str, Any] = Field(default_factory=dict)
    code_commit: str | None = None
    code_dirty: bool | None = None
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    actor: str = ""


class ModelVersionUpdate(_In):
    description: str


class ModelVersionOut(_Out):
    id: str
    name: str
    version: int
    uri: str
    stage: str
    description: str
    artifact_digest: str
    flavor: str
    size: int
    run_id: str | None
    signature: dict[str, Any] | None
    input_example: Any
    metrics: dict[str, float | None]
    datasets: list[dict[str, Any]]
    model_meta: dict[str, Any]
    code_commit: str | None
    code_dirty: bool | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str]
    aliases: list[str]
    pickled: bool = False


class ModelVersionListOut(BaseModel):
    versions: list[ModelVersionOut]
    next_page_token: str | None = None


class StageUpdate(_In):
    stage: str
    reason: str = ""
    actor: str = ""


class RollbackCreate(_In):
    stage: str = "production"
    reason: str = ""
    actor: str = ""


class AliasUpdate(_In):
    version: int
    actor: str = ""


class AliasOut(BaseModel):
    name: str
    alias: str
    version: int


class AuditEntryOut(_Out):
    id: int
    model_name: str
    version: int | None
    action: str
    field: str | None
    from_value: str | None
    to_value: str | None
    displaced_version: int | None
    actor: str
    reason: str
    at: datetime


class AuditEntryListOut(BaseModel):
    entries: list[AuditEntryOut]
