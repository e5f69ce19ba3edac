"""``SqlRegistryStore``: the model registry on the metadata database (SQLite or PostgreSQL).

SQLAlchemy Core over the registry tables of :mod:`modelplane.store.tables`. Every write
starts by updating the model's row, which takes its row lock on PostgreSQL (SQLite write
transactions already hold the database write lock from ``BEGIN IMMEDIATE``); that
serialises the writes to one model, so version numbers, exclusive stages, aliases and the
audit log stay consistent under any number of processes. The database constraints
(``uq(model_id, version)``, the partial unique index on exclusive stages, the alias
primary key) are the backstop.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from modelplane.core.errors import AlreadyExistsError, InvalidStateError, NotFoundError
from modelplane.core.filters import Expr, Field
from modelplane.core.ids import new_id
from modelplane.core.timeutil import utcnow
from modelplane.registry._queries import (
    ModelResolver,
    Statements,
    VersionResolver,
    ma,
    mt,
    mv,
    mvt,
    new_version,
    ra,
    rm,
    rollback_target,
    stage_holders,
    to_audit,
    to_model,
    to_version,
    version_values,
)
from modelplane.registry.entities import (
    DEFAULT_STAGE,
    EXCLUSIVE_STAGES,
    AuditEntry,
    Deletion,
    ModelVersion,
    RegisteredModel,
)
from modelplane.registry.store import VersionSpec
from modelplane.store.db import Database
from modelplane.store.filters import compile_filter, compile_order_by

__all__ = ["SqlRegistryStore"]

_MAX_SUGGESTION_NAMES = 10_000


class SqlRegistryStore:
    """:class:`~modelplane.registry.store.RegistryStore` on a :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._q = Statements(db.dialect)
        self._upsert = sqlite_insert if db.dialect == "sqlite" else pg_insert
        by_name = rm.c.name == bindparam("model_name")
        self._lock = update(rm).where(by_name).values(updated_at=bindparam("now")).returning(
            rm.c.id)
        self._bump = (update(rm).where(by_name)
                      .values(next_version=rm.c.next_version + 1, updated_at=bindparam("now"))
                      .returning(rm.c.id, rm.c.next_version))
        self._new_model = self._upsert(rm).on_conflict_do_nothing(index_elements=["name"])
        mid: Any = bindparam("mid")
        number: Any = bindparam("version")
        alias_v = mv.alias("alias_v")
        current = (select(alias_v.c.version)
                   .select_from(ma.join(alias_v, alias_v.c.id == ma.c.version_id))
                   .where(ma.c.model_id == mid, ma.c.alias == bindparam("alias"))
                   .scalar_subquery())
        self._version_row = select(mv.c.id, mv.c.stage, mv.c.artifact_digest).where(
            mv.c.model_id == mid, mv.c.version == number)
        self._alias_target = select(mv.c.id, current).where(
            mv.c.model_id == mid, mv.c.version == number)

    # -- registered models -------------------------------------------------------------

    def create_model(self, name: str, *, description: str = "",
                     tags: Mapping[str, str] | None = None) -> RegisteredModel:
        now = utcnow()
        with self.db.connection_scope() as s:
            created = s.execute(self._new_model.returning(rm.c.id), {
                "id": new_id(), "name": name, "description": description, "next_version": 1,
                "created_at": now, "updated_at": now}).scalar()
            if created is None:
                raise AlreadyExistsError(f"registered model {name!r} already exists",
                                         details={"name": name})
            self._write_tags(s, mt, "model_id", created, tags, (), f"model {name!r}")
            return to_model(s.execute(self._q.model_by_name, {"name": name}).one())

    def get_model(self, name: str) -> RegisteredModel:
        with self.db.connection_scope(readonly=True) as s:
            row = s.execute(self._q.model_by_name, {"name": name}).first()
            if row is None:
                raise _no_model(s, name)
            return to_model(row)

    def search_models(self, where: Expr | None, *, limit: int,
                      offset: int = 0) -> list[RegisteredModel]:
        stmt = (self._q.models.where(compile_filter(where, ModelResolver()))
                .order_by(rm.c.name).limit(limit).offset(offset))
        with self.db.connection_scope(readonly=True) as s:
            return [to_model(row) for row in s.execute(stmt)]

    def update_model(self, name: str, *, description: str | None = None,
                     set_tags: Mapping[str, str] | None = None,
                     delete_tags: Sequence[str] = ()) -> RegisteredModel:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if description is not None:
            values["description"] = description
        with self.db.connection_scope() as s:
            mid = s.execute(update(rm).where(rm.c.name == name).values(**values)
                            .returning(rm.c.id)).scalar()
            if mid is None:
                raise _no_model(s, name)
            self._write_tags(s, mt, "model_id", mid, set_tags, delete_tags, f"model {name!r}")
            return to_model(s.execute(self._q.model_by_name, {"name": name}).one())

    def delete_model(self, name: str, *, actor: str = "") -> Deletion:
        now = utcnow()
        with self.db.connection_scope() as s:
            mid = self._lock_model(s, name, now)
            digests = set(s.execute(select(mv.c.artifact_digest).distinct()
                                    .where(mv.c.model_id == mid)).scalars())
            s.execute(delete(rm).where(rm.c.id == mid))
            _audit(s, mid, name, None, "delete", now, actor=actor)
            return _deletion(s, digests)

    # -- versions ----------------------------------------------------------------------

    def create_version(self, name: str, spec: VersionSpec) -> ModelVersion:
        now = utcnow()
        with self.db.connection_scope() as s:
            row = s.execute(self._bump, {"model_name": name, "now": now}).first()
            if row is None:
                s.execute(self._new_model, {"id": new_id(), "name": name, "description": "",
                                            "next_version": 1, "created_at": now,
                                            "updated_at": now})
                row = s.execute(self._bump, {"model_name": name, "now": now}).first()
                if row is None:  # created and deleted again between the two statements
                    raise InvalidStateError(f"registered model {name!r} was deleted while "
                                            "registering a version; try again")
            mid, number, vid = row[0], row[1] - 1, new_id()
            s.execute(insert(mv), version_values(spec, vid, mid, number, now))
            self._write_tags(s, mvt, "version_id", vid, spec.tags, (), "")
            _audit(s, mid, name, number, "create", now, to_value=DEFAULT_STAGE,
                   actor=spec.actor)
        return new_version(spec, vid, name, number, now)

    def get_version(self, name: str, *, version: int | None = None, alias: str | None = None,
                    stage: str | None = None) -> ModelVersion:
        if version is not None:
            stmt, params = self._q.version_by_number, {"name": name, "version": version}
        elif alias is not None:
            stmt, params = self._q.version_by_alias, {"name": name, "alias": alias}
        else:
            stmt, params = self._q.version_by_stage, {"name": name, "stage": stage}
        row = self.db.fast.first(stmt, params)
        if row is None:
            with self.db.connection_scope(readonly=True) as s:
                raise _no_version(s, name, version=version, alias=alias, stage=stage)
        return to_version(row)

    def search_versions(self, where: Expr | None, order_by: Sequence[tuple[Field, bool]], *,
                        limit: int, offset: int = 0) -> list[ModelVersion]:
        resolver = VersionResolver()
        stmt = (self._q.versions.where(compile_filter(where, resolver))
                .order_by(*compile_order_by(order_by, resolver), rm.c.name,
                          mv.c.version.desc())
                .limit(limit).offset(offset))
        with self.db.connection_scope(readonly=True) as s:
            return [to_version(row) for row in s.execute(stmt)]

    def update_version(self, name: str, version: int, *, description: str | None = None,
                       set_tags: Mapping[str, str] | None = None,
                       delete_tags: Sequence[str] = ()) -> ModelVersion:
        now = utcnow()
        values: dict[str, Any] = {"updated_at": now}
        if description is not None:
            values["description"] = description
        with self.db.connection_scope() as s:
            mid = self._lock_model(s, name, now)
            vid = s.execute(update(mv).where(mv.c.model_id == mid, mv.c.version == version)
                            .values(**values).returning(mv.c.id)).scalar()
            if vid is None:
                raise _no_version(s, name, version=version)
            self._write_tags(s, mvt, "version_id", vid, set_tags, delete_tags,
                             f"version {version} of model {name!r}")
            return to_version(s.execute(self._q.version_by_id, {"id": vid}).one())

    def delete_version(self, name: str, version: int, *, force: bool = False,
                       actor: str = "") -> Deletion:
        now = utcnow()
        with self.db.connection_scope() as s:
            mid = self._lock_model(s, name, now)
            row = s.execute(self._version_row, {"mid": mid, "version": version}).first()
            if row is None:
                raise _no_version(s, name, version=version)
            if row.stage == "production" and not force:
                raise InvalidStateError(
                    f"version {version} of model {name!r} is in production; promote another "
                    "version first or delete with force", details={
                        "name": name, "version": version, "stage": row.stage})
            aliases = s.execute(select(ma.c.alias).where(ma.c.version_id == row.id)).scalars()
            for alias in sorted(aliases):
                _audit(s, mid, name, version, "alias_delete", now, field=alias,
                       from_value=str(version), actor=actor)
            s.execute(delete(mv).where(mv.c.id == row.id))
            _audit(s, mid, name, version, "delete", now, from_value=row.stage, actor=actor)
            return _deletion(s, {row.artifact_digest})

    # -- stages, aliases, history ------------------------------------------------------

    def set_stage(self, name: str, version: int, stage: str, *, actor: str = "",
                  reason: str = "") -> ModelVersion:
        now = utcnow()
        with self.db.connection_scope() as s:
            mid = self._lock_model(s, name, now)
            return self._move(s, mid, name, version, stage, now, actor, reason, "stage")

    def rollback(self, name: str, stage: str, *, actor: str = "",
                 reason: str = "") -> ModelVersion:
        now = utcnow()
        with self.db.connection_scope() as s:
            mid = self._lock_model(s, name, now)
            entries = s.execute(
                select(ra.c.version, ra.c.action)
                .where(ra.c.model_id == mid, ra.c.field == stage,
                       ra.c.action.in_(("stage", "rollback")))
                .order_by(ra.c.id)).all()
            stack = stage_holders([(v, a) for v, a in entries])
            existing = set(s.execute(select(mv.c.version).where(
                mv.c.model_id == mid, mv.c.version.in_(set(stack)))).scalars())
            target = rollback_target(stack, existing)
            if target is None:
                held = f" (version {stack[-1]} is the only one it has held)" if stack else ""
                raise InvalidStateError(
                    f"model {name!r} has no previous {stage} version to roll back to{held}",
                    details={"name": name, "stage": stage})
            return self._move(s, mid, name, target, stage, now, actor, reason or "rollback",
                              "rollback")

    def set_alias(self, name: str, alias: str, version: int | None, *,
                  actor: str = "") -> None:
        now = utcnow()
        with self.db.connection_scope() as s:
            mid = self._lock_model(s, name, now)
            if version is None:
                self._delete_alias(s, mid, name, alias, now, actor)
                return
            row = s.execute(self._alias_target,
                            {"mid": mid, "version": version, "alias": alias}).first()
            if row is None:
                raise _no_version(s, name, version=version)
            vid, current = row
            if current == version:
                return
            if current is None:
                s.execute(insert(ma), {"model_id": mid, "alias": alias, "version_id": vid})
            else:
                s.execute(update(ma).where(ma.c.model_id == mid, ma.c.alias == alias)
                          .values(version_id=vid))
            _audit(s, mid, name, version, "alias", now, field=alias,
                   from_value=None if current is None else str(current),
                   to_value=str(version), actor=actor)

    def history(self, name: str, *, version: int | None = None,
                limit: int | None = None) -> list[AuditEntry]:
        with self.db.connection_scope(readonly=True) as s:
            mid = s.execute(select(rm.c.id).where(rm.c.name == name)).scalar()
            if mid is None:
                raise _no_model(s, name)
            stmt = select(ra).where(ra.c.model_id == mid)
            if version is not None:
                stmt = stmt.where(or_(ra.c.version == version,
                                      ra.c.displaced_version == version))
            if limit is None:
                return [to_audit(r) for r in s.execute(stmt.order_by(ra.c.id))]
            rows = s.execute(stmt.order_by(ra.c.id.desc()).limit(limit)).all()
            return [to_audit(r) for r in reversed(rows)]

    # -- helpers -----------------------------------------------------------------------

    def _lock_model(self, s: Connection, name: str, now: datetime) -> str:
        """The model's id, with its row locked for the rest of the transaction."""
        mid = s.execute(self._lock, {"model_name": name, "now": now}).scalar()
        if mid is None:
            raise _no_model(s, name)
        return str(mid)

    def _move(self, s: Connection, mid: str, name: str, version: int, stage: str,
              now: datetime, actor: str, reason: str, action: str) -> ModelVersion:
        row = s.execute(self._version_row, {"mid": mid, "version": version}).first()
        if row is None:
            raise _no_version(s, name, version=version)
        if row.stage != stage:
            displaced = None
            if stage in EXCLUSIVE_STAGES:
                displaced = s.execute(
                    update(mv).where(mv.c.model_id == mid, mv.c.stage == stage)
                    .values(stage="archived", updated_at=now).returning(mv.c.version)).scalar()
            s.execute(update(mv).where(mv.c.id == row.id).values(stage=stage, updated_at=now))
            _audit(s, mid, name, version, action, now, field=stage, from_value=row.stage,
                   to_value=stage, displaced_version=displaced, actor=actor, reason=reason)
        return to_version(s.execute(self._q.version_by_id, {"id": row.id}).one())

    def _delete_alias(self, s: Connection, mid: str, name: str, alias: str, now: datetime,
                      actor: str) -> None:
        old = s.execute(select(mv.c.version).select_from(ma.join(mv, mv.c.id == ma.c.version_id))
                        .where(ma.c.model_id == mid, ma.c.alias == alias)).scalar()
        if old is None:
            raise _no_version(s, name, alias=alias)
        s.execute(delete(ma).where(ma.c.model_id == mid, ma.c.alias == alias))
        _audit(s, mid, name, old, "alias_delete", now, field=alias, from_value=str(old),
               actor=actor)

    def _write_tags(self, s: Connection, table: Table, owner: str, owner_id: str,
                    set_tags: Mapping[str, str] | None, delete_tags: Sequence[str],
                    what: str) -> None:
        for key in delete_tags:
            gone = s.execute(delete(table).where(table.c[owner] == owner_id,
                                                 table.c.key == key))
            if gone.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"tag {key!r} not found on {what}", details={"key": key})
        if set_tags:
            stmt = self._upsert(table).values(
                [{owner: owner_id, "key": k, "value": v} for k, v in set_tags.items()])
            s.execute(stmt.on_conflict_do_update(index_elements=[owner, "key"],
                                                 set_={"value": stmt.excluded.value}))


def _audit(s: Connection, mid: str, name: str, version: int | None, action: str, at: datetime,
           **values: Any) -> None:
    s.execute(insert(ra), {"model_id": mid, "model_name": name, "version": version,
                           "action": action, "at": at, "field": None, "from_value": None,
                           "to_value": None, "displaced_version": None, "actor": "",
                           "reason": "", **values})


def _deletion(s: Connection, digests: set[str]) -> Deletion:
    still = set(s.execute(select(mv.c.artifact_digest).distinct()
                          .where(mv.c.artifact_digest.in_(digests))).scalars())
    orphaned = tuple(sorted(digests - still))
    if not orphaned:
        return Deletion()
    live = frozenset(s.execute(select(mv.c.artifact_digest).distinct()).scalars())
    return Deletion(orphaned_digests=orphaned, live_digests=live)


def _no_model(s: Connection, name: str) -> NotFoundError:
    names = s.execute(select(rm.c.name).limit(_MAX_SUGGESTION_NAMES)).scalars().all()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return NotFoundError(f"registered model {name!r} not found{hint}",
                         details={"name": name, "suggestions": close})


def _no_version(s: Connection, name: str, *, version: int | None = None,
                alias: str | None = None, stage: str | None = None) -> NotFoundError:
    """The error for a missing version, alias or stage holder (or the model itself)."""
    mid = s.execute(select(rm.c.id).where(rm.c.name == name)).scalar()
    if mid is None:
        return _no_model(s, name)
    details: dict[str, Any] = {"name": name}
    if version is not None:
        latest = s.execute(select(mv.c.version).where(mv.c.model_id == mid)
                           .order_by(mv.c.version.desc()).limit(1)).scalar()
        have = f" (latest is version {latest})" if latest else " (it has no versions)"
        return NotFoundError(f"version {version} of model {name!r} not found{have}",
                             details={**details, "version": version})
    if alias is not None:
        known = sorted(s.execute(select(ma.c.alias).where(ma.c.model_id == mid)).scalars())
        have = f"; its aliases: {', '.join(known)}" if known else "; it has no aliases"
        return NotFoundError(f"alias {alias!r} of model {name!r} not found{have}",
                             details={**details, "alias": alias, "aliases": known})
    return NotFoundError(f"model {name!r} has no version in stage {stage!r}",
                         details={**details, "stage": stage})
