"""The pipelines storage protocols: runs with their lineage, and schedules with triggers.

One implementation of each today (``sql.py``: SQLite and PostgreSQL). Each method is
atomic and raises the modelplane error tree; services validate inputs first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from modelplane.pipelines.artifacts import ArtifactRef
from modelplane.pipelines.entities import PipelineRun, Schedule, StepRun, Trigger

__all__ = ["PipelineRunStore", "ScheduleStore"]


class PipelineRunStore(Protocol):
    def create_run(self, run: PipelineRun, steps: list[StepRun]) -> None:
        """Insert a run and its (pending) step runs in one transaction."""
        ...

    def update_run(self, run_id: str, **changes: Any) -> None:
        """Change ``status``, ``attempt``, ``error``, ``ended_at``, ``host``, ``pid``."""
        ...

    def get_run(self, run_id: str) -> PipelineRun:
        """The run with its step runs and their input and output artifacts."""
        ...

    def list_runs(self, pipeline: str | None, limit: int) -> list[PipelineRun]:
        """Newest first, without step runs."""
        ...

    def runs_matching(self, fragment: str, limit: int) -> list[tuple[str, str]]:
        """``(id, pipeline)`` of the runs whose id starts or ends with ``fragment``, newest
        first."""
        ...

    def update_step(self, step_run_id: str, *, inputs: dict[str, ArtifactRef] | None = None,
                    outputs: dict[str, ArtifactRef] | None = None, **changes: Any) -> None:
        """Change a step run's columns; record input and output artifacts (replacing
        earlier ones under the same names) in the same transaction."""
        ...

    def find_cached(self, cache_key: str) -> list[StepRun]:
        """Succeeded step runs with this key, newest first, with their outputs."""
        ...

    def previous_step(self, pipeline: str, name: str, before: datetime) -> StepRun | None:
        """The newest step run of ``name`` in ``pipeline`` started before ``before`` that
        recorded a cache key (what a miss is explained against)."""
        ...

    def link_model_version(self, step_run_id: str, model_name: str, version: int) -> None: ...

    def step_for_model_version(self, model_name: str, version: int) -> StepRun | None: ...

    def model_versions_of_steps(self, step_run_ids: list[str]) -> list[tuple[str, str, int]]:
        """``(step_run_id, model_name, version)`` registered by those step runs."""
        ...

    def steps_using(self, digest: str) -> list[tuple[StepRun, str]]:
        """Step runs that read or wrote artifact ``digest``, with ``in``/``out``."""
        ...

    def add_checkpoint(self, scope: str, digest: str, meta: dict[str, Any]) -> None: ...

    def latest_checkpoint(self, scope: str) -> tuple[str, dict[str, Any]] | None: ...


class ScheduleStore(Protocol):
    def create_schedule(self, schedule: Schedule) -> Schedule:
        """A taken name raises AlreadyExistsError."""
        ...

    def list_schedules(self) -> list[Schedule]: ...

    def delete_schedule(self, name: str) -> None: ...

    def due_schedules(self, now: datetime) -> list[Schedule]: ...

    def fire(self, schedule: Schedule, next_fire_at: datetime, trigger: Trigger) -> bool:
        """Advance ``schedule`` from its ``next_fire_at`` to ``next_fire_at`` and queue
        ``trigger``, atomically; False (and nothing written) when another scheduler
        fired this occurrence first."""
        ...

    def add_trigger(self, trigger: Trigger) -> Trigger: ...

    def claim_trigger(self, holder: str, now: datetime, lease_until: datetime
                      ) -> Trigger | None:
        """Take the oldest pending trigger, or one whose lease expired, for ``holder``."""
        ...

    def renew_lease(self, trigger_id: str, holder: str, lease_until: datetime) -> bool: ...

    def finish_trigger(self, trigger_id: str, holder: str, *, status: str,
                       pipeline_run_id: str | None, error: str = "") -> None: ...

    def list_triggers(self, limit: int) -> list[Trigger]: ...
