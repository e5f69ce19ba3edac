"""The model registry: registered models, versions, stages, aliases, rollback, audit log."""

from modelplane.registry.entities import (
    EXCLUSIVE_STAGES,
    STAGES,
    AuditEntry,
    ModelVersion,
    Page,
    RegisteredModel,
)
from modelplane.registry.service import RegistryService
from modelplane.registry.store import RegistryStore, VersionSpec
from modelplane.registry.uri import ModelRef, parse_model_uri

__all__ = [
    "EXCLUSIVE_STAGES",
    "STAGES",
    "AuditEntry",
    "ModelRef",
    "ModelVersion",
    "Page",
    "RegisteredModel",
    "RegistryService",
    "RegistryStore",
    "VersionSpec",
    "parse_model_uri",
]
