"""API schemas of tracking: experiments, runs, metrics, search pages, artifacts, datasets.

Times are ISO-8601 in, aware UTC out. Metric values are taken as given and checked by
the service (so a bad value is a 422 naming the metric key, not a list index); a value
that is not finite (NaN, infinity) is returned as ``null``, which JSON can carry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    StrictInt,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from modelplane.tracking.entities import DatasetRecord, Experiment, Metric, Run, RunArtifact

__all__ = [
    "ArtifactOut",
    "ArtifactTreeOut",
    "DatasetDetailOut",
    "DatasetOut",
    "ExperimentCreate",
    "ExperimentOut",
    "ExperimentUpdate",
    "LogBatchIn",
    "MetricIn",
    "MetricOut",
    "MetricSeriesOut",
    "MetricsIn",
    "RunCreate",
    "RunOut",
    "RunPageOut",
    "RunSearchIn",
    "RunUpdate",
    "ScalarMap",
    "TreeEntryOut",
]



def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, str | int | float):  # bool is an int
        return value
    raise PydanticCustomError("scalar", "expected a string, number or boolean, got {kind}",
                              {"kind": "null" if value is None else type(value).__name__})


#: A param or tag value: a JSON scalar, stored as its text (``1.0`` as ``"1.0"``).
Scalar = Annotated[Any, PlainValidator(_scalar), WithJsonSchema(
    {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]})]
ScalarMap = dict[str, Scalar]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- experiments -----------------------------------------------------------------------
class ExperimentCreate(_In):
    name: str
    description: str = ""
    tags: ScalarMap = Field(default_factory=dict)


class ExperimentUpdate(_In):
    name: str | None = None
    description: str | None = None
    tags: ScalarMap | None = None


class ExperimentOut(BaseModel):
    id: str
    name: str
    description: str
    tags: dict[str, str]
    lifecycle: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentOut:
        return cls(**experiment.to_dict())


# -- runs ------------------------------------------------------------------------------
class RunCreate(_In):
    """A new run. ``user``, ``host``, ``pid`` and the code version describe the client
    process that executes the run (``fail-stale`` checks that pid on that host)."""

    experiment: str = "Default"
    name: str | None = None
    params: ScalarMap = Field(default_factory=dict)
    tags: ScalarMap = Field(default_factory=dict)
    parent_run_id: str | None = None
    source: str = ""
    user: str = ""
    host: str = ""
    pid: StrictInt | None = None
    code_commit: str | None = None
    code_dirty: bool | None = None


class RunUpdate(_In):
    """``status``: ``finished``, ``failed`` or ``killed`` end the run; ``running``
    reopens it."""

    status: Literal["running", "finished", "failed", "killed"] | None = None
    name: str | None = None


class RunOut(BaseModel):
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
    params: dict[str, str]
    metrics: dict[str, float | None]
    tags: dict[str, str]

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(**run.to_dict())


class RunPageOut(BaseModel):
    runs: list[RunOut]
    next_page_token: str | None


class RunSearchIn(_In):
    """The body of ``POST /runs/search`` (the same fields as the GET query)."""

    filter: str = ""
    experiments: list[str] | None = None
    order_by: str = ""
    max_results: int = 1000
    page_token: str | None = None
    include_deleted: bool = False


# -- metrics, params, tags -------------------------------------------------------------
class MetricIn(_In):
    key: str
    value: Any = Field(json_schema_extra={"type": "number"})
    step: StrictInt = 0
    timestamp: datetime | None = None

    def as_tuple(self) -> tuple[str, Any, int, datetime | None]:
        return (self.key, self.value, self.step, self.timestamp)


class MetricsIn(RootModel[list[MetricIn]]):
    """One metric object or a list of them."""

    @model_validator(mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class MetricOut(BaseModel):
    key: str
    value: float | None
    step: int
    timestamp: datetime

    @classmethod
    def of(cls, metric: Metric) -> MetricOut:
        return cls(key=metric.key, value=metric.value, step=metric.step,
                   timestamp=metric.timestamp)


class MetricSeriesOut(BaseModel):
    """A chart's worth of a history: ``points`` are ``[step, min, max]`` (raw points have
    ``min == max``; buckets start at ``step``)."""

    key: str
    count: int
    bucketed: bool
    points: list[list[float | None]]


class LogBatchIn(_In):
    """Metrics, params and tags written in one transaction: all or nothing."""

    metrics: list[MetricIn] = Field(default_factory=list)
    params: ScalarMap = Field(default_factory=dict)
    tags: ScalarMap = Field(default_factory=dict)


# -- artifacts and datasets ------------------------------------------------------------
class ArtifactOut(BaseModel):
    path: str
    digest: str
    is_dir: bool
    size: int
    created_at: datetime

    @classmethod
    def of(cls, artifact: RunArtifact) -> ArtifactOut:
        return cls(path=artifact.path, digest=artifact.digest, is_dir=artifact.is_dir,
                   size=artifact.size, created_at=artifact.created_at)


class TreeEntryOut(BaseModel):
    path: str
    digest: str
    size: int


class ArtifactTreeOut(BaseModel):
    """A folder artifact (or a folder inside one): its files, relative to ``path``."""

    path: str
    digest: str
    is_dir: Literal[True] = True
    files: list[TreeEntryOut]


class DatasetOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    digest: str
    name: str
    source: str
    num_rows: int
    num_columns: int
    role: str | None = None
    created_at: datetime
    schema_: list[dict[str, Any]] = Field(alias="schema")

    @classmethod
    def of(cls, record: DatasetRecord) -> DatasetOut:
        return cls.model_validate(record.to_dict())


class DatasetDetailOut(DatasetOut):
    """A dataset version with its profile (per-column statistics)."""

    profile: dict[str, Any]
