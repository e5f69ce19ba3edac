"""Schedules (cron, via croniter), event triggers, and the scheduler loop.

A firing is a row in ``pipeline_triggers``: a schedule's occurrence queues one (the
schedule's ``next_fire_at`` moves by compare-and-set and ``uq(schedule_id, fire_at)``
rejects a second insert, so however many schedulers run, each occurrence fires once);
:func:`trigger` queues one for an event (a monitoring alert starts a retraining). A
scheduler claims a pending trigger with a lease it renews while the pipeline runs; a
trigger whose scheduler died becomes claimable again when the lease runs out.

After downtime a schedule fires once for the newest missed occurrence, not once per
missed occurrence. Times are UTC.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.core.ids import new_id
from modelplane.core.timeutil import utcnow
from modelplane.pipelines.dsl import Pipeline
from modelplane.pipelines.entities import PipelineRun, Schedule, Trigger

if TYPE_CHECKING:
    from modelplane.pipelines.service import PipelineService
    from modelplane.pipelines.store import ScheduleStore

__all__ = ["SchedulerService", "next_fire", "parse_cron", "trigger"]

log = logging.getLogger("modelplane.pipelines.scheduler")
LEASE_S = 60.0


def parse_cron(expression: str) -> str:
    """``expression`` when croniter accepts it (5 fields, or 6 with seconds)."""
    from croniter import croniter

    if not isinstance(expression, str) or not croniter.is_valid(expression.strip()):
        raise InvalidArgumentError(
            f"cron expression {expression!r} does not parse; expected 5 fields "
            "'minute hour day-of-month month day-of-week', e.g. '0 3 * * *'",
            details={"field": "cron"})
    return expression.strip()


def next_fire(expression: str, after: datetime) -> datetime:
    """The first occurrence of ``expression`` strictly after ``after`` (UTC)."""
    from croniter import croniter

    value: datetime = croniter(expression, after).get_next(datetime)
    return value


class SchedulerService:
    def __init__(self, store: ScheduleStore, pipelines: PipelineService) -> None:
        self.store = store
        self.pipelines = pipelines

    # -- schedules and triggers ----------------------------------------------------------
    def _resolve(self, pipeline: Any, params: Mapping[str, Any] | None,
                 workdir: str | None) -> tuple[str, str, str, dict[str, Any]]:
        """(name, ref, workdir, params) of ``pipeline``: an object, a ``module:attr``
        reference, or the name of a pipeline that has run here before."""
        from modelplane.pipelines.service import load_pipeline

        workdir = workdir or os.getcwd()
        if isinstance(pipeline, str) and ":" not in pipeline:
            runs = self.pipelines.list_runs(pipeline, limit=1)
            if not runs:
                raise NotFoundError(
                    f"pipeline {pipeline!r} has never run here; give it as module:attr",
                    details={"pipeline": pipeline})
            pipeline, workdir = runs[0].ref, runs[0].workdir
        loaded: Pipeline = load_pipeline(pipeline, workdir)
        given = dict(params or {})
        loaded.resolve_params(given)  # an unknown parameter fails now, not at 3 a.m.
        return loaded.name, loaded.ref, workdir, given

    def create_schedule(self, pipeline: Any, cron: str, *, name: str | None = None,
                        params: Mapping[str, Any] | None = None, workdir: str | None = None,
                        now: datetime | None = None) -> Schedule:
        expression = parse_cron(cron)
        pipeline_name, ref, workdir, given = self._resolve(pipeline, params, workdir)
        created = now or utcnow()
        schedule = Schedule(id=new_id(), name=name or pipeline_name, pipeline=pipeline_name,
                            ref=ref, workdir=workdir, cron=expression, params=given,
                            enabled=True, next_fire_at=next_fire(expression, created),
                            last_fired_at=None, created_at=created)
        return self.store.create_schedule(schedule)

    def list_schedules(self) -> list[Schedule]:
        return self.store.list_schedules()

    def delete_schedule(self, name: str) -> None:
        self.store.delete_schedule(name)

    def trigger(self, pipeline: Any, params: Mapping[str, Any] | None = None, *,
                reason: str = "", workdir: str | None = None) -> Trigger:
        """Queue a run of ``pipeline`` (run by the next free scheduler)."""
        pipeline_name, ref, workdir, given = self._resolve(pipeline, params, workdir)
        return self.store.add_trigger(_trigger(pipeline_name, ref, workdir, given, reason,
                                               "event"))

    def list_triggers(self, limit: int = 50) -> list[Trigger]:
        return self.store.list_triggers(limit)

    # -- the loop ------------------------------------------------------------------------
    def fire_due(self, now: datetime | None = None) -> list[Trigger]:
        """Queue one trigger per due schedule occurrence this scheduler wins."""
        now = now or utcnow()
        fired = []
        for schedule in self.store.due_schedules(now):
            occurrence = schedule.next_fire_at
            following = next_fire(schedule.cron, max(now, occurrence))
            latest = occurrence
            while (candidate := next_fire(schedule.cron, latest)) <= now:
                latest = candidate  # downtime: fire once, for the newest missed one
            item = _trigger(schedule.pipeline, schedule.ref, schedule.workdir, schedule.params,
                            f"schedule {schedule.name} ({schedule.cron}) at "
                            f"{latest:%Y-%m-%d %H:%M} UTC", "schedule",
                            schedule_id=schedule.id, fire_at=latest)
            if self.store.fire(schedule, following, item):
                fired.append(item)
        return fired

    def run_next(self, holder: str, *, executor: Any = None,
                 on_event: Callable[[Any], None] | None = None) -> PipelineRun | None:
        """Claim one queued trigger and run its pipeline (renewing the lease meanwhile)."""
        now = utcnow()
        claimed = self.store.claim_trigger(holder, now, now + timedelta(seconds=LEASE_S))
        if claimed is None:
            return None
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(LEASE_S / 3):
                self.store.renew_lease(claimed.id, holder,
                                       utcnow() + timedelta(seconds=LEASE_S))

        renewer = threading.Thread(target=renew, daemon=True)
        renewer.start()
        try:
            run = self.pipelines.run(claimed.ref, claimed.params, executor=executor,
                                     on_event=on_event, workdir=claimed.workdir,
                                     trigger=f"{claimed.source}: {claimed.reason}"[:1000])
        except Exception as exc:
            stop.set()
            self.store.finish_trigger(claimed.id, holder, status="failed", pipeline_run_id=None,
                                      error=str(exc)[:2000])
            log.error("trigger %s failed: %s", claimed.id, exc)
            return None
        stop.set()
        self.store.finish_trigger(claimed.id, holder, status="done", pipeline_run_id=run.id)
        return run

    def tick(self, holder: str, **options: Any) -> list[PipelineRun]:
        """Fire due schedules, then run queued triggers until none is left."""
        self.fire_due()
        runs = []
        while (run := self.run_next(holder, **options)) is not None:
            runs.append(run)
        return runs

    def serve(self, *, interval: float = 10.0, holder: str | None = None,
              stop: threading.Event | None = None, **options: Any) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set (or interrupted)."""
        holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        stop = stop or threading.Event()
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.tick(holder, **options)
            except Exception as exc:  # a database hiccup must not end the scheduler
                log.error("scheduler tick failed: %s", exc)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))


def _trigger(pipeline: str, ref: str, workdir: str, params: dict[str, Any], reason: str,
             source: str, *, schedule_id: str | None = None,
             fire_at: datetime | None = None) -> Trigger:
    return Trigger(id=new_id(), pipeline=pipeline, ref=ref, workdir=workdir, params=params,
                   reason=reason[:2000], source=source, schedule_id=schedule_id,
                   fire_at=fire_at, status="pending", holder=None, lease_until=None,
                   pipeline_run_id=None, error="", created_at=utcnow())


def trigger(pipeline: Any, params: Mapping[str, Any] | None = None, reason: str = "") -> Trigger:
    """Queue a run of ``pipeline`` for the schedulers (``modelplane scheduler``) of the
    configured platform, e.g. ``trigger("churn-training", {"window": "7d"},
    reason="drift")``; ``client.pipelines.scheduler.trigger`` does it on a given one."""
    from modelplane.pipelines.service import default_service

    return default_service().scheduler.trigger(pipeline, params, reason=reason)
