"""SQL building blocks of :class:`~modelplane.registry.sql.SqlRegistryStore`: the version
and model selects (each row carries its tags and aliases, aggregated to JSON in the same
statement, so a lookup is one round trip), the search resolvers, row conversion, and the
replay of a stage's holders from the audit log that rollback relies on.

Statements used on hot paths are built once per store with bind parameters, so a call
only binds values (SQLAlchemy's compiled cache does the rest).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Select, bindparam, func, null, select
from sqlalchemy.engine import Row

from modelplane.core.filters import Field, Value
from modelplane.core.timeutil import as_utc
from modelplane.registry.entities import DEFAULT_STAGE, AuditEntry, ModelVersion, RegisteredModel
from modelplane.registry.store import VersionSpec
from modelplane.store.filters import apply_op, keyed_exists, keyed_value
from modelplane.store.tables import (
    model_aliases,
    model_tags,
    model_version_tags,
    model_versions,
    registered_models,
    registry_audit,
)

__all__ = ["ModelResolver", "Statements", "VersionResolver", "new_version", "rollback_target",
           "stage_holders", "to_audit", "to_model", "to_version", "version_values"]

rm, mv, mvt, mt = registered_models, model_versions, model_version_tags, model_tags
ma, ra = model_aliases, registry_audit

_VERSION_COLUMNS = [c for c in mv.c if c.name != "model_id"]


class Statements:
    """Dialect-specific selects, built once per store."""

    def __init__(self, dialect: str) -> None:
        sqlite = dialect == "sqlite"
        self.object_agg = func.json_group_object if sqlite else func.json_object_agg
        self.array_agg = func.json_group_array if sqlite else func.json_agg
        tags = (select(self.object_agg(mvt.c.key, mvt.c.value, type_=JSON))
                .where(mvt.c.version_id == mv.c.id).correlate(mv).scalar_subquery())
        aliases = (select(self.array_agg(ma.c.alias, type_=JSON))
                   .where(ma.c.version_id == mv.c.id).correlate(mv).scalar_subquery())
        self.versions: Select[Any] = select(
            *_VERSION_COLUMNS, rm.c.name.label("name"), tags.label("tags"),
            aliases.label("aliases"),
        ).select_from(mv.join(rm, rm.c.id == mv.c.model_id))
        self.models: Select[Any] = self._model_select()

        name: Any = bindparam("name")
        self.version_by_number = self.versions.where(
            rm.c.name == name, mv.c.version == bindparam("version"))
        self.version_by_id = self.versions.where(mv.c.id == bindparam("id"))
        self.version_by_alias = self.versions.join(
            ma, (ma.c.version_id == mv.c.id) & (ma.c.model_id == rm.c.id)
        ).where(rm.c.name == name, ma.c.alias == bindparam("alias"))
        self.version_by_stage = (self.versions
                                 .where(rm.c.name == name, mv.c.stage == bindparam("stage"))
                                 .order_by(mv.c.version.desc()).limit(1))
        self.model_by_name = self.models.where(rm.c.name == name)

    def _model_select(self) -> Select[Any]:
        latest = (select(func.max(mv.c.version)).where(mv.c.model_id == rm.c.id)
                  .correlate(rm).scalar_subquery())
        tags = (select(self.object_agg(mt.c.key, mt.c.value, type_=JSON))
                .where(mt.c.model_id == rm.c.id).correlate(rm).scalar_subquery())
        alias_version = mv.alias("alias_version")
        aliases = (select(self.object_agg(ma.c.alias, alias_version.c.version, type_=JSON))
                   .select_from(ma.join(alias_version, alias_version.c.id == ma.c.version_id))
                   .where(ma.c.model_id == rm.c.id).correlate(rm).scalar_subquery())
        return select(rm.c.id, rm.c.name, rm.c.description, rm.c.created_at, rm.c.updated_at,
                      latest.label("latest_version"), tags.label("tags"),
                      aliases.label("aliases"))


def to_version(row: Row[Any] | Any) -> ModelVersion:
    m = row._mapping
    return ModelVersion(
        id=m["id"], name=m["name"], version=m["version"], stage=m["stage"],
        description=m["description"], artifact_digest=m["artifact_digest"],
        flavor=m["flavor"], size=m["size"], run_id=m["run_id"], signature=m["signature"],
        input_example=m["input_example"], metrics=m["metrics"] or {},
        datasets=m["datasets"] or [], model_meta=m["model_meta"] or {},
        code_commit=m["code_commit"], code_dirty=m["code_dirty"],
        created_by=m["created_by"], created_at=as_utc(m["created_at"]),
        updated_at=as_utc(m["updated_at"]), tags=m["tags"] or {},
        aliases=tuple(sorted(m["aliases"] or ())),
    )


def to_model(row: Row[Any] | Any) -> RegisteredModel:
    m = row._mapping
    aliases = m["aliases"] or {}
    return RegisteredModel(
        id=m["id"], name=m["name"], description=m["description"],
        created_at=as_utc(m["created_at"]), updated_at=as_utc(m["updated_at"]),
        latest_version=m["latest_version"], tags=m["tags"] or {},
        aliases={k: aliases[k] for k in sorted(aliases)},
    )


def to_audit(row: Row[Any] | Any) -> AuditEntry:
    m = row._mapping
    return AuditEntry(
        id=m["id"], model_name=m["model_name"], version=m["version"], action=m["action"],
        field=m["field"], from_value=m["from_value"], to_value=m["to_value"],
        displaced_version=m["displaced_version"], actor=m["actor"], reason=m["reason"],
        at=as_utc(m["at"]),
    )


class VersionResolver:
    """Search fields of model versions (see :data:`~modelplane.registry.store.VERSION_FILTER`)."""

    _ATTRIBUTES: dict[str, ColumnElement[Any]] = {  # noqa: RUF012
        "name": rm.c.name, "version": mv.c.version, "stage": mv.c.stage,
        "flavor": mv.c.flavor, "run_id": mv.c.run_id, "created_at": mv.c.created_at,
        "updated_at": mv.c.updated_at, "description": mv.c.description,
    }

    def attribute(self, name: str) -> ColumnElement[Any]:
        return self._ATTRIBUTES[name]

    def keyed(self, prefix: str, key: str, op: str, value: Value) -> ColumnElement[bool]:
        if prefix == "metrics":
            return apply_op(mv.c.metrics[key].as_float(), op, value)
        return keyed_exists(mvt, mvt.c.version_id, mvt.c.key, mvt.c.value, mv.c.id, key, op,
                            value)

    def order_key(self, field: Field) -> ColumnElement[Any]:
        if field.prefix == "metrics":
            return mv.c.metrics[field.key].as_float()
        return keyed_value(mvt, mvt.c.version_id, mvt.c.key, mvt.c.value, mv.c.id, field.key)


class ModelResolver:
    """Search fields of registered models (see :data:`~modelplane.registry.store.MODEL_FILTER`)."""

    _ATTRIBUTES: dict[str, ColumnElement[Any]] = {  # noqa: RUF012
        "name": rm.c.name, "description": rm.c.description, "created_at": rm.c.created_at,
        "updated_at": rm.c.updated_at,
    }

    def attribute(self, name: str) -> ColumnElement[Any]:
        return self._ATTRIBUTES[name]

    def keyed(self, prefix: str, key: str, op: str, value: Value) -> ColumnElement[bool]:
        return keyed_exists(mt, mt.c.model_id, mt.c.key, mt.c.value, rm.c.id, key, op, value)

    def order_key(self, field: Field) -> ColumnElement[Any]:
        return keyed_value(mt, mt.c.model_id, mt.c.key, mt.c.value, rm.c.id, field.key)


def stage_holders(entries: Sequence[tuple[int, str]]) -> list[int]:
    """Replay the (version, action) audit entries into one stage: the stack of holders."""
    stack: list[int] = []
    for version, action in entries:
        if action == "rollback":
            while stack and stack[-1] != version:
                stack.pop()
            if not stack:
                stack.append(version)
        else:
            stack.append(version)
    return stack


def rollback_target(stack: Sequence[int], existing: set[int]) -> int | None:
    """The nearest holder below the top that still exists and is not the top itself."""
    if not stack:
        return None
    top = stack[-1]
    return next((v for v in reversed(stack[:-1]) if v != top and v in existing), None)


def version_values(spec: VersionSpec, vid: str, mid: str, number: int,
                    now: datetime) -> dict[str, Any]:
    return {
        "id": vid, "model_id": mid, "version": number, "stage": DEFAULT_STAGE,
        "description": spec.description, "run_id": spec.run_id,
        "artifact_digest": spec.artifact_digest, "flavor": spec.flavor, "size": spec.size,
        "signature": null() if spec.signature is None else spec.signature,
        "input_example": null() if spec.input_example is None else spec.input_example,
        "metrics": spec.metrics, "datasets": spec.datasets, "model_meta": spec.model_meta,
        "code_commit": spec.code_commit, "code_dirty": spec.code_dirty,
        "created_by": spec.actor, "created_at": now, "updated_at": now,
    }


def new_version(spec: VersionSpec, vid: str, name: str, number: int,
                 now: datetime) -> ModelVersion:
    return ModelVersion(
        id=vid, name=name, version=number, stage=DEFAULT_STAGE, description=spec.description,
        artifact_digest=spec.artifact_digest, flavor=spec.flavor, size=spec.size,
        run_id=spec.run_id, signature=spec.signature, input_example=spec.input_example,
        metrics=dict(spec.metrics), datasets=list(spec.datasets),
        model_meta=dict(spec.model_meta), code_commit=spec.code_commit,
        code_dirty=spec.code_dirty, created_by=spec.actor, created_at=now, updated_at=now,
        tags=dict(spec.tags),
    )
