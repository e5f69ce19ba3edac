"""API schemas of the pipelines (``/api/v1/pipelines/...``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PipelineRunOut", "ScheduleCreate", "ScheduleOut", "StepRunOut", "TriggerCreate",
           "TriggerOut"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StepRunOut(_Out):
    id: str
    name: str
    step: str
    status: str
    attempts: int
    executor: str
    params: dict[str, Any]
    cache_key: str | None
    cache_reason: str
    cached_from: str | None
    tracking_run_id: str | None
    error: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]


class PipelineRunOut(_Out):
    id: str
    pipeline: str
    ref: str
    params: dict[str, Any]
    graph: dict[str, Any]
    status: str
    attempt: int
    trigger: str
    error: str
    created_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    steps: list[StepRunOut]

    @classmethod
    def of(cls, run: Any) -> PipelineRunOut:
        return cls.model_validate(run.to_dict())


class ScheduleCreate(_In):
    pipeline: str = Field(description="A pipeline name that ran here, or module:attr")
    cron: str
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class ScheduleOut(_Out):
    id: str
    name: str
    pipeline: str
    ref: str
    cron: str
    params: dict[str, Any]
    enabled: bool
    next_fire_at: datetime
    last_fired_at: datetime | None
    created_at: datetime


class TriggerCreate(_In):
    pipeline: str = Field(description="A pipeline name that ran here, or module:attr")
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


class TriggerOut(_Out):
    id: str
    pipeline: str
    params: dict[str, Any]
    reason: str
    source: str
    status: str
    pipeline_run_id: str | None
    error: str
    created_at: datetime
