"""Records of the pipelines capability: runs, step runs, schedules, triggers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from modelplane.pipelines.artifacts import ArtifactRef

__all__ = ["PipelineRun", "Schedule", "StepRun", "Trigger"]

RUN_STATUSES = ("running", "succeeded", "failed")
#: ``reused``: kept from an earlier attempt of the same run by ``resume``.
STEP_STATUSES = ("pending", "running", "succeeded", "cached", "failed", "skipped")
DONE = ("succeeded", "cached")


@dataclass(frozen=True)
class StepRun:
    id: str
    pipeline_run_id: str
    name: str
    step: str
    status: str
    cache_key: str | None
    cache_parts: dict[str, Any] | None
    cache_reason: str
    cached_from: str | None
    attempts: int
    executor: str
    params: dict[str, Any]
    tracking_run_id: str | None
    error: str
    started_at: datetime | None
    ended_at: datetime | None
    inputs: dict[str, ArtifactRef] = field(default_factory=dict)
    outputs: dict[str, ArtifactRef] = field(default_factory=dict)
    payload_digest: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["inputs"] = {k: v.to_dict() for k, v in self.inputs.items()}
        data["outputs"] = {k: v.to_dict() for k, v in self.outputs.items()}
        data["duration_s"] = self.duration_s
        return data


@dataclass(frozen=True)
class PipelineRun:
    id: str
    pipeline: str
    ref: str
    workdir: str
    params: dict[str, Any]
    graph: dict[str, Any]
    status: str
    attempt: int
    trigger: str
    host: str
    pid: int | None
    error: str
    created_at: datetime
    ended_at: datetime | None
    steps: list[StepRun] = field(default_factory=list)

    def step(self, name: str) -> StepRun:
        for step_run in self.steps:
            if step_run.name == name:
                return step_run
        from modelplane.core.errors import NotFoundError

        raise NotFoundError(f"pipeline run {self.id} has no step {name!r}",
                            details={"step": name})

    def output(self, step: str, name: str = "output") -> ArtifactRef:
        return self.step(step).outputs[name]

    @property
    def duration_s(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.created_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = [s.to_dict() for s in self.steps]
        data["duration_s"] = self.duration_s
        return data


@dataclass(frozen=True)
class Schedule:
    id: str
    name: str
    pipeline: str
    ref: str
    workdir: str
    cron: str
    params: dict[str, Any]
    enabled: bool
    next_fire_at: datetime
    last_fired_at: datetime | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Trigger:
    id: str
    pipeline: str
    ref: str
    workdir: str
    params: dict[str, Any]
    reason: str
    source: str
    schedule_id: str | None
    fire_at: datetime | None
    status: str
    holder: str | None
    lease_until: datetime | None
    pipeline_run_id: str | None
    error: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
