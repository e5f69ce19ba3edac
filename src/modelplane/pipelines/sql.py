"""``SqlPipelineRunStore`` and ``SqlScheduleStore``: pipelines on the metadata database.

SQLAlchemy Core on bare connections (each call one transaction). The once-per-occurrence
rule for schedules is held by the database: firing is a compare-and-set on the
schedule's ``next_fire_at`` plus an insert that ``uq(schedule_id, fire_at)`` guards, in
one transaction; claiming a trigger is a conditional UPDATE on its status and lease.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from modelplane.core.errors import AlreadyExistsError, NotFoundError
from modelplane.core.timeutil import as_utc, utcnow
from modelplane.pipelines.artifacts import ArtifactRef
from modelplane.pipelines.entities import PipelineRun, Schedule, StepRun, Trigger
from modelplane.store.db import Database
from modelplane.store.tables_pipelines import (
    pipeline_artifacts,
    pipeline_checkpoints,
    pipeline_model_versions,
    pipeline_runs,
    pipeline_schedules,
    pipeline_step_io,
    pipeline_step_runs,
    pipeline_triggers,
)

__all__ = ["SqlPipelineRunStore", "SqlScheduleStore"]

_RUN_COLUMNS = ("id", "pipeline", "ref", "workdir", "params", "graph", "status", "attempt",
                "trigger", "host", "pid", "error", "created_at", "ended_at")
_STEP_COLUMNS = ("id", "pipeline_run_id", "name", "step", "status", "cache_key", "cache_parts",
                 "cache_reason", "cached_from", "attempts", "executor", "params",
                 "tracking_run_id", "payload_digest", "error", "started_at", "ended_at")


def _opt_time(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _run(row: Any, steps: list[StepRun] | None = None) -> PipelineRun:
    return PipelineRun(
        id=row.id, pipeline=row.pipeline, ref=row.ref, workdir=row.workdir,
        params=dict(row.params or {}), graph=dict(row.graph or {}), status=row.status,
        attempt=row.attempt, trigger=row.trigger, host=row.host, pid=row.pid, error=row.error,
        created_at=as_utc(row.created_at), ended_at=_opt_time(row.ended_at), steps=steps or [])


def _step(row: Any, io: dict[str, dict[str, dict[str, ArtifactRef]]] | None = None) -> StepRun:
    links = (io or {}).get(row.id, {})
    return StepRun(
        id=row.id, pipeline_run_id=row.pipeline_run_id, name=row.name, step=row.step,
        status=row.status, cache_key=row.cache_key, cache_parts=row.cache_parts,
        cache_reason=row.cache_reason, cached_from=row.cached_from, attempts=row.attempts,
        executor=row.executor, params=dict(row.params or {}),
        tracking_run_id=row.tracking_run_id, error=row.error,
        started_at=_opt_time(row.started_at), ended_at=_opt_time(row.ended_at),
        inputs=links.get("in", {}), outputs=links.get("out", {}),
        payload_digest=row.payload_digest)


def _step_values(step: StepRun) -> dict[str, Any]:
    return {c: getattr(step, c) for c in _STEP_COLUMNS}


class SqlPipelineRunStore:
    """Implements :class:`~modelplane.pipelines.store.PipelineRunStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        upsert: Any
        if db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        self._insert_artifact = upsert(pipeline_artifacts).on_conflict_do_nothing(
            index_elements=[pipeline_artifacts.c.digest])
        stmt = upsert(pipeline_step_io)
        self._upsert_io = stmt.on_conflict_do_update(
            index_elements=[pipeline_step_io.c.step_run_id, pipeline_step_io.c.direction,
                            pipeline_step_io.c.name], set_={"digest": stmt.excluded.digest})

    # -- runs ----------------------------------------------------------------------------
    def create_run(self, run: PipelineRun, steps: list[StepRun]) -> None:
        with self.db.connection_scope() as conn:
            conn.execute(insert(pipeline_runs).values(
                **{c: getattr(run, c) for c in _RUN_COLUMNS}))
            if steps:
                conn.execute(insert(pipeline_step_runs), [_step_values(s) for s in steps])

    def update_run(self, run_id: str, **changes: Any) -> None:
        with self.db.connection_scope() as conn:
            result = conn.execute(update(pipeline_runs).where(pipeline_runs.c.id == run_id)
                                  .values(**changes))
        if result.rowcount == 0:
            raise NotFoundError(f"pipeline run {run_id!r} not found",
                                details={"pipeline_run_id": run_id})

    def get_run(self, run_id: str) -> PipelineRun:
        with self.db.connection_scope(readonly=True) as conn:
            row = conn.execute(select(pipeline_runs).where(pipeline_runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundError(f"pipeline run {run_id!r} not found",
                                    details={"pipeline_run_id": run_id})
            steps = self._steps(conn, select(pipeline_step_runs).where(
                pipeline_step_runs.c.pipeline_run_id == run_id))
        order = [n["name"] for n in (row.graph or {}).get("nodes", [])]
        steps.sort(key=lambda s: order.index(s.name) if s.name in order else len(order))
        return _run(row, steps)

    def list_runs(self, pipeline: str | None, limit: int) -> list[PipelineRun]:
        query = select(pipeline_runs).order_by(pipeline_runs.c.created_at.desc(),
                                               pipeline_runs.c.id.desc()).limit(limit)
        if pipeline:
            query = query.where(pipeline_runs.c.pipeline == pipeline)
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(query).all()
            steps = self._steps(conn, select(pipeline_step_runs).where(
                pipeline_step_runs.c.pipeline_run_id.in_([r.id for r in rows])), io=False)
        by_run: dict[str, list[StepRun]] = {}
        for s in steps:
            by_run.setdefault(s.pipeline_run_id, []).append(s)
        return [_run(r, by_run.get(r.id, [])) for r in rows]

    def runs_matching(self, fragment: str, limit: int) -> list[tuple[str, str]]:
        ids = pipeline_runs.c.id
        query = (select(ids, pipeline_runs.c.pipeline)
                 .where(or_(ids.startswith(fragment, autoescape=True),
                            ids.endswith(fragment, autoescape=True)))
                 .order_by(pipeline_runs.c.created_at.desc()).limit(limit))
        with self.db.connection_scope(readonly=True) as conn:
            return [(row.id, row.pipeline) for row in conn.execute(query)]

    def _steps(self, conn: Connection, query: Any, *, io: bool = True) -> list[StepRun]:
        rows = conn.execute(query).all()
        if not io or not rows:
            return [_step(r) for r in rows]
        links: dict[str, dict[str, dict[str, ArtifactRef]]] = {}
        ids = [r.id for r in rows]
        for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900)):
            joined = (select(pipeline_step_io, pipeline_artifacts)
                      .join(pipeline_artifacts,
                            pipeline_artifacts.c.digest == pipeline_step_io.c.digest)
                      .where(pipeline_step_io.c.step_run_id.in_(chunk)))
            for link in conn.execute(joined):
                ref = ArtifactRef(link.digest, link.kind, link.type_name, link.size,
                                  dict(link.meta or {}))
                links.setdefault(link.step_run_id, {}).setdefault(
                    link.direction, {})[link.name] = ref
        return [_step(r, links) for r in rows]

    # -- steps ---------------------------------------------------------------------------
    def update_step(self, step_run_id: str, *, inputs: dict[str, ArtifactRef] | None = None,
                    outputs: dict[str, ArtifactRef] | None = None, **changes: Any) -> None:
        with self.db.connection_scope() as conn:
            if changes:
                conn.execute(update(pipeline_step_runs)
                             .where(pipeline_step_runs.c.id == step_run_id).values(**changes))
            refs = [("in", k, v) for k, v in (inputs or {}).items()] + [
                ("out", k, v) for k, v in (outputs or {}).items()]
            if refs:
                now = utcnow()
                conn.execute(self._insert_artifact, [
                    {"digest": r.digest, "kind": r.kind, "type_name": r.type_name,
                     "size": r.size, "meta": r.meta, "created_at": now} for _, _, r in refs])
                conn.execute(self._upsert_io, [
                    {"step_run_id": step_run_id, "direction": d, "name": n, "digest": r.digest}
                    for d, n, r in refs])

    def find_cached(self, cache_key: str) -> list[StepRun]:
        query = (select(pipeline_step_runs)
                 .where(pipeline_step_runs.c.cache_key == cache_key,
                        pipeline_step_runs.c.status == "succeeded")
                 .order_by(pipeline_step_runs.c.ended_at.desc()).limit(5))
        with self.db.connection_scope(readonly=True) as conn:
            return self._steps(conn, query)

    def previous_step(self, pipeline: str, name: str, before: datetime) -> StepRun | None:
        query = (select(pipeline_step_runs)
                 .join(pipeline_runs,
                       pipeline_runs.c.id == pipeline_step_runs.c.pipeline_run_id)
                 .where(pipeline_runs.c.pipeline == pipeline,
                        pipeline_step_runs.c.name == name,
                        pipeline_step_runs.c.status.in_(("succeeded", "cached")),
                        pipeline_step_runs.c.started_at < before)
                 .order_by(pipeline_step_runs.c.started_at.desc()).limit(1))
        with self.db.connection_scope(readonly=True) as conn:
            row = conn.execute(query).first()
        return None if row is None else _step(row)

    # -- lineage -------------------------------------------------------------------------
    def link_model_version(self, step_run_id: str, model_name: str, version: int) -> None:
        with self.db.connection_scope() as conn:
            conn.execute(insert(pipeline_model_versions).values(
                model_name=model_name, version=version, step_run_id=step_run_id))

    def step_for_model_version(self, model_name: str, version: int) -> StepRun | None:
        query = (select(pipeline_step_runs)
                 .join(pipeline_model_versions,
                       pipeline_model_versions.c.step_run_id == pipeline_step_runs.c.id)
                 .where(pipeline_model_versions.c.model_name == model_name,
                        pipeline_model_versions.c.version == version))
        with self.db.connection_scope(readonly=True) as conn:
            steps = self._steps(conn, query)
        return steps[0] if steps else None

    def steps_using(self, digest: str) -> list[tuple[StepRun, str]]:
        with self.db.connection_scope(readonly=True) as conn:
            links = conn.execute(select(pipeline_step_io.c.step_run_id,
                                        pipeline_step_io.c.direction)
                                 .where(pipeline_step_io.c.digest == digest)).all()
            ids = {row.step_run_id for row in links}
            steps = {s.id: s for s in self._steps(conn, select(pipeline_step_runs).where(
                pipeline_step_runs.c.id.in_(ids)))} if ids else {}
        return [(steps[row.step_run_id], row.direction) for row in links]

    def model_versions_of_steps(self, step_run_ids: list[str]) -> list[tuple[str, str, int]]:
        """``(step_run_id, model_name, version)`` registered by those step runs."""
        if not step_run_ids:
            return []
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(pipeline_model_versions).where(
                pipeline_model_versions.c.step_run_id.in_(step_run_ids))).all()
        return [(r.step_run_id, r.model_name, r.version) for r in rows]

    # -- checkpoints ---------------------------------------------------------------------
    def add_checkpoint(self, scope: str, digest: str, meta: dict[str, Any]) -> None:
        with self.db.connection_scope() as conn:
            conn.execute(insert(pipeline_checkpoints).values(
                scope=scope, digest=digest, meta=meta, created_at=utcnow()))

    def latest_checkpoint(self, scope: str) -> tuple[str, dict[str, Any]] | None:
        query = (select(pipeline_checkpoints.c.digest, pipeline_checkpoints.c.meta)
                 .where(pipeline_checkpoints.c.scope == scope)
                 .order_by(pipeline_checkpoints.c.id.desc()).limit(1))
        with self.db.connection_scope(readonly=True) as conn:
            row = conn.execute(query).first()
        return None if row is None else (row.digest, dict(row.meta or {}))


def _schedule(row: Any) -> Schedule:
    return Schedule(id=row.id, name=row.name, pipeline=row.pipeline, ref=row.ref,
                    workdir=row.workdir, cron=row.cron, params=dict(row.params or {}),
                    enabled=bool(row.enabled), next_fire_at=as_utc(row.next_fire_at),
                    last_fired_at=_opt_time(row.last_fired_at),
                    created_at=as_utc(row.created_at))


def _trigger(row: Any) -> Trigger:
    return Trigger(id=row.id, pipeline=row.pipeline, ref=row.ref, workdir=row.workdir,
                   params=dict(row.params or {}), reason=row.reason, source=row.source,
                   schedule_id=row.schedule_id, fire_at=_opt_time(row.fire_at),
                   status=row.status, holder=row.holder, lease_until=_opt_time(row.lease_until),
                   pipeline_run_id=row.pipeline_run_id, error=row.error,
                   created_at=as_utc(row.created_at))


def _trigger_values(trigger: Trigger) -> dict[str, Any]:
    now = utcnow()
    return {"id": trigger.id, "pipeline": trigger.pipeline, "ref": trigger.ref,
            "workdir": trigger.workdir, "params": trigger.params, "reason": trigger.reason,
            "source": trigger.source, "schedule_id": trigger.schedule_id,
            "fire_at": trigger.fire_at, "status": trigger.status, "holder": trigger.holder,
            "lease_until": trigger.lease_until, "pipeline_run_id": trigger.pipeline_run_id,
            "error": trigger.error, "created_at": now, "updated_at": now}


class SqlScheduleStore:
    """Implements :class:`~modelplane.pipelines.store.ScheduleStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_schedule(self, schedule: Schedule) -> Schedule:
        values = schedule.to_dict()
        try:
            with self.db.connection_scope() as conn:
                conn.execute(insert(pipeline_schedules).values(**values,
                                                               updated_at=utcnow()))
        except AlreadyExistsError:
            raise AlreadyExistsError(f"a schedule named {schedule.name!r} already exists",
                                     details={"schedule": schedule.name}) from None
        return schedule

    def list_schedules(self) -> list[Schedule]:
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(pipeline_schedules)
                                .order_by(pipeline_schedules.c.name)).all()
        return [_schedule(r) for r in rows]

    def delete_schedule(self, name: str) -> None:
        with self.db.connection_scope() as conn:
            result = conn.execute(delete(pipeline_schedules)
                                  .where(pipeline_schedules.c.name == name))
        if result.rowcount == 0:
            raise NotFoundError(f"schedule {name!r} not found", details={"schedule": name})

    def due_schedules(self, now: datetime) -> list[Schedule]:
        query = (select(pipeline_schedules)
                 .where(pipeline_schedules.c.enabled.is_(True),
                        pipeline_schedules.c.next_fire_at <= now)
                 .order_by(pipeline_schedules.c.next_fire_at))
        with self.db.connection_scope(readonly=True) as conn:
            return [_schedule(r) for r in conn.execute(query)]

    def fire(self, schedule: Schedule, next_fire_at: datetime, trigger: Trigger) -> bool:
        try:
            with self.db.connection_scope() as conn:
                moved = conn.execute(
                    update(pipeline_schedules)
                    .where(pipeline_schedules.c.id == schedule.id,
                           pipeline_schedules.c.next_fire_at == schedule.next_fire_at)
                    .values(next_fire_at=next_fire_at, last_fired_at=trigger.fire_at,
                            updated_at=utcnow()))
                if moved.rowcount != 1:
                    return False
                conn.execute(insert(pipeline_triggers).values(**_trigger_values(trigger)))
        except AlreadyExistsError:  # this occurrence was fired already
            return False
        return True

    def add_trigger(self, trigger: Trigger) -> Trigger:
        with self.db.connection_scope() as conn:
            conn.execute(insert(pipeline_triggers).values(**_trigger_values(trigger)))
        return trigger

    def claim_trigger(self, holder: str, now: datetime, lease_until: datetime
                      ) -> Trigger | None:
        claimable = or_(pipeline_triggers.c.status == "pending",
                        and_(pipeline_triggers.c.status == "claimed",
                             pipeline_triggers.c.lease_until < now))
        for _ in range(5):
            with self.db.connection_scope(readonly=True) as conn:
                row = conn.execute(select(pipeline_triggers).where(claimable)
                                   .order_by(pipeline_triggers.c.created_at).limit(1)).first()
            if row is None:
                return None
            with self.db.connection_scope() as conn:
                taken = conn.execute(
                    update(pipeline_triggers)
                    .where(pipeline_triggers.c.id == row.id, claimable,
                           pipeline_triggers.c.status == row.status)
                    .values(status="claimed", holder=holder, lease_until=lease_until,
                            updated_at=now))
            if taken.rowcount == 1:
                with self.db.connection_scope(readonly=True) as conn:
                    return _trigger(conn.execute(select(pipeline_triggers).where(
                        pipeline_triggers.c.id == row.id)).one())
        return None

    def renew_lease(self, trigger_id: str, holder: str, lease_until: datetime) -> bool:
        with self.db.connection_scope() as conn:
            result = conn.execute(
                update(pipeline_triggers)
                .where(pipeline_triggers.c.id == trigger_id, pipeline_triggers.c.holder == holder,
                       pipeline_triggers.c.status == "claimed")
                .values(lease_until=lease_until, updated_at=utcnow()))
        return result.rowcount == 1

    def finish_trigger(self, trigger_id: str, holder: str, *, status: str,
                       pipeline_run_id: str | None, error: str = "") -> None:
        with self.db.connection_scope() as conn:
            conn.execute(update(pipeline_triggers)
                         .where(pipeline_triggers.c.id == trigger_id,
                                pipeline_triggers.c.holder == holder)
                         .values(status=status, pipeline_run_id=pipeline_run_id, error=error,
                                 updated_at=utcnow()))

    def list_triggers(self, limit: int) -> list[Trigger]:
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(pipeline_triggers)
                                .order_by(pipeline_triggers.c.created_at.desc())
                                .limit(limit)).all()
        return [_trigger(r) for r in rows]
