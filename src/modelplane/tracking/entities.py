"""Tracking records: experiments, runs and what runs log. Plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "RUN_STATUSES",
    "TERMINAL_STATUSES",
    "DatasetRecord",
    "Experiment",
    "Metric",
    "Run",
    "RunArtifact",
]

RUN_STATUSES = ("running", "finished", "failed", "killed")
TERMINAL_STATUSES = ("finished", "failed", "killed")


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    name: str
    description: str
    tags: dict[str, str]
    lifecycle: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    step: int
    timestamp: datetime


@dataclass(slots=True)
class Run:
    """A run with its params, tags and the latest value of each metric.

    Treat it as read-only. (Not ``frozen``: a frozen dataclass costs ~2 µs more to build,
    which is a tenth of a search returning 1,000 runs.)"""

    id: str
    experiment_id: str
    name: str
    status: str
    lifecycle: str
    start_time: datetime
    end_time: datetime | None
    parent_run_id: str | None
    user: str
    host: str
    pid: int | None
    source: str
    code_commit: str | None
    code_dirty: bool | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunArtifact:
    path: str
    digest: str
    is_dir: bool
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    """A dataset version (one per content digest), as linked to a run under a role."""

    digest: str
    name: str
    source: str
    num_rows: int
    num_columns: int
    schema: list[dict[str, Any]]
    profile: dict[str, Any]
    created_at: datetime
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
