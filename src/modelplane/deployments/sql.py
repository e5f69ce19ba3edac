"""Deployments on the metadata database (SQLite or PostgreSQL), SQLAlchemy Core.

A change locks the deployment's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
write transactions start with ``BEGIN IMMEDIATE`` and so are serialised), so concurrent
changes from several replicas queue instead of interleaving. Stats and leases use the
dialect's ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from modelplane.core.errors import AlreadyExistsError, NotFoundError
from modelplane.core.timeutil import utcnow
from modelplane.deployments.entities import (
    Canary,
    Deployment,
    DeploymentEvent,
    Variant,
    VariantStats,
)
from modelplane.deployments.store import Change, NewEvent
from modelplane.store.db import Database
from modelplane.store.tables_deployments import deployment_eval_gates as gates_t
from modelplane.store.tables_deployments import deployment_events as events_t
from modelplane.store.tables_deployments import deployment_leases as leases_t
from modelplane.store.tables_deployments import deployment_stats as stats_t
from modelplane.store.tables_deployments import deployments as deployments_t

__all__ = ["SqlDeploymentStore"]


def _variants(raw: Any) -> tuple[Variant, ...]:
    return tuple(Variant.from_dict(v) for v in raw or [])


def _row(row: Any) -> Deployment:
    return Deployment(
        id=row.id, name=row.name, model=row.model, variants=_variants(row.variants),
        key_field=row.key_field, canary=Canary.from_dict(row.canary) if row.canary else None,
        previous=_variants(row.previous) if row.previous else None, revision=row.revision,
        description=row.description, created_at=row.created_at, updated_at=row.updated_at)


def _values(d: Deployment) -> dict[str, Any]:
    return {"id": d.id, "name": d.name, "model": d.model,
            "variants": [v.to_dict() for v in d.variants], "key_field": d.key_field,
            "canary": d.canary.to_dict() if d.canary else None,
            "previous": [v.to_dict() for v in d.previous] if d.previous else None,
            "revision": d.revision, "description": d.description,
            "created_at": d.created_at, "updated_at": d.updated_at}


def _missing(name: str) -> NotFoundError:
    return NotFoundError(f"deployment {name!r} does not exist; create it with `modelplane "
                         "deploy create`", details={"deployment": name})


class SqlDeploymentStore:
    """:class:`~modelplane.deployments.store.DeploymentStore` on a :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        if db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self._upsert: Any = pg_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._upsert = sqlite_insert

    # -- deployments -------------------------------------------------------------------
    def create(self, deployment: Deployment, event: NewEvent) -> Deployment:
        try:
            with self.db.connection_scope() as conn:
                conn.execute(insert(deployments_t).values(**_values(deployment)))
                self._add_events(conn, deployment.name, [event])
        except AlreadyExistsError:
            raise AlreadyExistsError(f"deployment {deployment.name!r} already exists",
                                     details={"deployment": deployment.name}) from None
        return deployment

    def get(self, name: str) -> Deployment:
        with self.db.connection_scope(readonly=True) as conn:
            row = conn.execute(select(deployments_t).where(deployments_t.c.name == name)).first()
        if row is None:
            raise _missing(name)
        return _row(row)

    def list_deployments(self) -> list[Deployment]:
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(deployments_t).order_by(deployments_t.c.name)).all()
        return [_row(r) for r in rows]

    def update(self, name: str, change: Change) -> Deployment:
        with self.db.connection_scope() as conn:
            query = select(deployments_t).where(deployments_t.c.name == name)
            if self.db.dialect == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                raise _missing(name)
            current = _row(row)
            outcome = change(current)
            if outcome is None:
                return current
            new, events = outcome
            new = new.evolve(revision=current.revision + 1, updated_at=utcnow())
            values = _values(new)
            del values["id"], values["name"], values["created_at"]
            conn.execute(update(deployments_t).where(deployments_t.c.id == current.id)
                         .values(**values))
            self._add_events(conn, name, events)
        return new

    def delete(self, name: str) -> None:
        with self.db.connection_scope() as conn:
            gone = conn.execute(delete(deployments_t).where(deployments_t.c.name == name))
            if not gone.rowcount:
                raise _missing(name)
            conn.execute(delete(events_t).where(events_t.c.deployment == name))
            conn.execute(delete(stats_t).where(stats_t.c.deployment == name))

    # -- events ------------------------------------------------------------------------
    @staticmethod
    def _add_events(conn: Connection, name: str, events: Sequence[NewEvent]) -> None:
        if events:
            now = utcnow()
            conn.execute(insert(events_t), [
                {"deployment": name, "kind": e.kind, "actor": e.actor[:128],
                 "reason": e.reason, "detail": e.detail, "at": now} for e in events])

    def events(self, name: str, *, limit: int = 100) -> list[DeploymentEvent]:
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(events_t).where(events_t.c.deployment == name)
                                .order_by(events_t.c.id.desc()).limit(limit)).all()
        return [DeploymentEvent(id=r.id, deployment=r.deployment, kind=r.kind, actor=r.actor,
                                reason=r.reason, detail=dict(r.detail or {}), at=r.at)
                for r in reversed(rows)]

    # -- stats -------------------------------------------------------------------------
    def write_stats(self, replica: str,
                    rows: Sequence[tuple[str, str, int, int, VariantStats]]) -> None:
        if not rows:
            return
        values = [{"deployment": d, "variant": v, "version": ver, "bucket": b,
                   "replica": replica, "n": s.n, "errors": s.errors,
                   "latency_sum": s.latency_sum,
                   "latency_hist": {str(k): c for k, c in s.hist.items()}}
                  for d, v, ver, b, s in sorted(rows, key=lambda r: r[:4])]
        stmt = self._upsert(stats_t)
        stmt = stmt.on_conflict_do_update(
            index_elements=["deployment", "variant", "version", "bucket", "replica"],
            set_={"n": stmt.excluded.n, "errors": stmt.excluded.errors,
                  "latency_sum": stmt.excluded.latency_sum,
                  "latency_hist": stmt.excluded.latency_hist})
        with self.db.connection_scope() as conn:
            conn.execute(stmt, values)

    def read_stats(self, deployment: str, since: int) -> list[tuple[str, int, VariantStats]]:
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(
                select(stats_t.c.variant, stats_t.c.version, stats_t.c.n, stats_t.c.errors,
                       stats_t.c.latency_sum, stats_t.c.latency_hist)
                .where(stats_t.c.deployment == deployment, stats_t.c.bucket >= since)).all()
        merged: dict[tuple[str, int], VariantStats] = {}
        for variant, version, n, errors, latency_sum, hist in rows:
            s = merged.setdefault((variant, version), VariantStats())
            s.add(VariantStats(int(n), int(errors), float(latency_sum),
                               {int(k): int(c) for k, c in (hist or {}).items()}))
        return [(v, ver, s) for (v, ver), s in sorted(merged.items())]

    def read_stats_series(self, deployment: str, since: int, step: int
                          ) -> list[tuple[int, str, VariantStats]]:
        step = max(int(step), 1)
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(
                select(stats_t.c.bucket, stats_t.c.variant, stats_t.c.n, stats_t.c.errors,
                       stats_t.c.latency_sum, stats_t.c.latency_hist)
                .where(stats_t.c.deployment == deployment, stats_t.c.bucket >= since)).all()
        merged: dict[tuple[int, str], VariantStats] = {}
        for bucket, variant, n, errors, latency_sum, hist in rows:
            s = merged.setdefault((int(bucket) - int(bucket) % step, variant), VariantStats())
            s.add(VariantStats(int(n), int(errors), float(latency_sum),
                               {int(k): int(c) for k, c in (hist or {}).items()}))
        return [(at, v, s) for (at, v), s in sorted(merged.items())]

    def delete_stats_before(self, bucket: int) -> int:
        with self.db.connection_scope() as conn:
            return int(conn.execute(delete(stats_t).where(stats_t.c.bucket < bucket)).rowcount)

    # -- leases ------------------------------------------------------------------------
    def acquire_lease(self, key: str, holder: str, ttl_s: float) -> bool:
        now = int(time.time() * 1000)
        expires = now + int(ttl_s * 1000)
        with self.db.connection_scope() as conn:
            taken = conn.execute(
                update(leases_t).where(leases_t.c.key == key,
                                       (leases_t.c.holder == holder)
                                       | (leases_t.c.expires_ms < now))
                .values(holder=holder, expires_ms=expires)).rowcount
            if taken:
                return True
            stmt = self._upsert(leases_t).values(key=key, holder=holder, expires_ms=expires)
            created = conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"])
                                   .returning(leases_t.c.key)).first()
            return created is not None

    # -- evaluation gates --------------------------------------------------------------
    def put_eval_gates(self, model: str, config: dict[str, Any] | None) -> None:
        with self.db.connection_scope() as conn:
            conn.execute(delete(gates_t).where(gates_t.c.model == model))
            if config is not None:
                conn.execute(insert(gates_t).values(model=model, config=config,
                                                    updated_at=utcnow()))

    def get_eval_gates(self, model: str) -> dict[str, Any] | None:
        with self.db.connection_scope(readonly=True) as conn:
            row = conn.execute(select(gates_t.c.config).where(gates_t.c.model == model)).first()
        return dict(row[0]) if row is not None else None
