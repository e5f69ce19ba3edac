"""API schemas of monitoring (``/api/v1/monitoring/...``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AlertListOut",
    "AlertOut",
    "DriftOut",
    "LabelIn",
    "LabelsCreate",
    "LabelsOut",
    "ModelHealthOut",
    "PerformanceOut",
    "PredictionIn",
    "PredictionsCreate",
    "PredictionsOut",
    "ReferenceCreate",
    "ReferenceListOut",
    "ReferenceOut",
    "RuleCreate",
    "RuleListOut",
    "RuleOut",
]

MAX_BATCH = 10_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, protected_namespaces=())


class PredictionIn(_In):
    """One logged prediction; ``time`` defaults to when the server receives it."""

    request_id: str = Field(min_length=1, max_length=128)
    version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    inputs: dict[str, Any] | list[Any] | None = None
    outputs: Any = None
    latency_s: float | None = Field(default=None, ge=0)
    time: datetime | float | None = None
    deployment: str | None = Field(default=None, max_length=256)
    variant: str | None = Field(default=None, max_length=128)
    cache_hit: bool = False
    status: str = Field(default="ok", pattern="^(ok|error)$")
    error: str | None = None
    row_index: int = Field(default=0, ge=0, le=2**31 - 1)


class PredictionsCreate(_In):
    records: list[PredictionIn] = Field(max_length=MAX_BATCH)


class PredictionsOut(BaseModel):
    accepted: int


class LoggedPredictionOut(BaseModel):
    request_id: str
    row_index: int
    model: str
    version: int
    time: datetime
    inputs: Any = None
    outputs: Any = None
    latency_s: float | None = None
    status: str
    error: str | None = None
    deployment: str | None = None
    variant: str | None = None
    cache_hit: bool = False
    label: Any = None
    labelled: bool = False


class LoggedPredictionsOut(BaseModel):
    model: str
    window: str
    predictions: list[LoggedPredictionOut]


class LabelIn(_In):
    request_id: str = Field(min_length=1, max_length=128)
    label: Any
    row_index: int = Field(default=0, ge=0, le=2**31 - 1)


class LabelsCreate(_In):
    labels: list[LabelIn] = Field(max_length=MAX_BATCH * 10)


class LabelsOut(BaseModel):
    accepted: int
    unknown: int
    unknown_request_ids: list[str]


class ReferenceCreate(_In):
    """Either ``dataset`` (a logged dataset's digest) or ``data`` (columns by name);
    ``predictions`` as a list (one output) or columns by name."""

    dataset: str | None = None
    data: dict[str, list[Any]] | None = None
    predictions: dict[str, list[Any]] | list[Any] | None = None
    version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    bins: int = Field(default=100, ge=1, le=1000)
    top_k: int = Field(default=1000, ge=0, le=100_000)


class ReferenceOut(_Out):
    id: str
    model: str
    version: int
    source: str
    num_rows: int
    features: list[str]
    predictions: list[str]
    created_at: datetime
    #: the full profiles (``?profiles=true``): what a remote client rebuilds it from
    profiles: dict[str, Any] | None = None


class ReferenceListOut(BaseModel):
    references: list[ReferenceOut]


class VersionHealthOut(_Out):
    version: int | None
    requests: int
    errors: int
    error_rate: float | None
    cache_hit_rate: float | None
    latency_mean_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    throughput_per_s: float | None
    dropped: int


class ModelHealthOut(_Out):
    model: str
    window: str
    overall: VersionHealthOut
    versions: list[VersionHealthOut]
    logger: dict[str, int] | None = None


class ColumnDriftOut(_Out):
    column: str
    role: str
    kind: str
    n_reference: int
    n_current: int
    test: str
    p_value: float | None
    effect: str
    effect_size: float | None
    threshold: float
    drifted: bool
    scores: dict[str, float | None]
    below_range: int
    above_range: int
    unseen: int
    missing_reference: int
    missing_current: int
    ks_exact: bool
    ks_error_bound: float | None
    histogram: dict[str, list[Any]]


class DriftOut(BaseModel):
    model: str
    window: str
    versions: list[int]
    reference: dict[str, Any]
    columns: list[ColumnDriftOut]
    n_reference: int
    n_current: int
    drifted_features: int
    feature_count: int
    share: float
    dataset_drift: bool
    prediction_drift: bool
    options: dict[str, Any]


class VersionPerformanceOut(_Out):
    version: int | None
    task: str
    predictions: int
    labelled: int
    metrics: dict[str, float | None]


class PerformanceOut(_Out):
    model: str
    window: str
    overall: VersionPerformanceOut
    versions: list[VersionPerformanceOut]


class RuleCreate(_In):
    name: str = Field(min_length=1, max_length=256)
    metric: str
    threshold: float
    op: str = ">"
    window: str = "1h"
    version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    cooldown: str | float = "10m"
    actions: list[dict[str, Any]] = Field(default_factory=list)
    enabled: bool = True


class RuleOut(_Out):
    id: str
    model: str
    name: str
    metric: str
    op: str
    threshold: float
    window: str
    version: int | None
    cooldown_s: float
    actions: list[dict[str, Any]]
    enabled: bool
    last_fired_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RuleListOut(BaseModel):
    rules: list[RuleOut]


class AlertOut(_Out):
    id: str
    rule_id: str
    model: str
    rule_name: str
    metric: str
    op: str
    threshold: float
    value: float | None
    window: str
    version: int | None
    status: str
    actions: list[dict[str, Any]]
    fired_at: datetime
    updated_at: datetime


class AlertListOut(BaseModel):
    alerts: list[AlertOut]
