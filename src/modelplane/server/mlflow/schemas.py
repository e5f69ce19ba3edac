"""Request bodies of the MLflow REST API, as ``service.proto`` and ``model_registry.proto``
define them (fields the client may send that modelplane ignores are accepted)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KeyValue(_Body):
    key: str
    value: str = ""


class MlflowMetricIn(_Body):
    key: str
    value: float
    timestamp: int | None = None
    step: int = 0
    model_id: str | None = None


class ExperimentCreateIn(_Body):
    name: str
    artifact_location: str = ""
    tags: list[KeyValue] = Field(default_factory=list)


class ExperimentIdIn(_Body):
    experiment_id: str


class ExperimentUpdateIn(_Body):
    experiment_id: str
    new_name: str | None = None


class ExperimentTagIn(_Body):
    experiment_id: str
    key: str
    value: str = ""


class SearchExperimentsIn(_Body):
    max_results: int = 1000
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    view_type: str = "ACTIVE_ONLY"


class RunCreateIn(_Body):
    experiment_id: str = "0"
    user_id: str = ""
    run_name: str | None = None
    start_time: int | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class RunIdIn(_Body):
    run_id: str | None = None
    run_uuid: str | None = None

    @property
    def id(self) -> str:
        return self.run_id or self.run_uuid or ""


class RunUpdateIn(RunIdIn):
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class LogMetricIn(RunIdIn):
    key: str
    value: float
    timestamp: int | None = None
    step: int = 0


class LogParamIn(RunIdIn):
    key: str
    value: str = ""


class SetTagIn(RunIdIn):
    key: str
    value: str = ""


class DeleteTagIn(RunIdIn):
    key: str


class MlflowLogBatchIn(RunIdIn):
    metrics: list[MlflowMetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class DatasetIn(_Body):
    name: str
    digest: str = ""
    source_type: str = ""
    source: str = ""
    schema_: str = Field("", alias="schema")
    profile: str = ""


class DatasetInputIn(_Body):
    tags: list[KeyValue] = Field(default_factory=list)
    dataset: DatasetIn


class ModelRef(_Body):
    model_id: str
    step: int = 0


class LogInputsIn(RunIdIn):
    datasets: list[DatasetInputIn] = Field(default_factory=list)
    models: list[ModelRef] = Field(default_factory=list)


class LogOutputsIn(RunIdIn):
    models: list[ModelRef] = Field(default_factory=list)


class SearchRunsIn(_Body):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: str = "ACTIVE_ONLY"
    max_results: int = 1000
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class LoggedModelCreateIn(_Body):
    experiment_id: str = "0"
    name: str = "model"
    model_type: str = ""
    source_run_id: str | None = None
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class LoggedModelFinalizeIn(_Body):
    model_id: str | None = None
    status: str


class LoggedModelTagsIn(_Body):
    tags: list[KeyValue] = Field(default_factory=list)


class LoggedModelParamsIn(_Body):
    params: list[KeyValue] = Field(default_factory=list)


class SearchLoggedModelsIn(_Body):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    max_results: int = 100
    page_token: str | None = None


# -- registry ----------------------------------------------------------------------------
class RegisteredModelIn(_Body):
    name: str
    tags: list[KeyValue] = Field(default_factory=list)
    description: str = ""


class RegisteredModelUpdateIn(_Body):
    name: str
    description: str = ""


class RenameIn(_Body):
    name: str
    new_name: str


class NameIn(_Body):
    name: str


class ModelTagIn(_Body):
    name: str
    key: str
    value: str = ""


class AliasIn(_Body):
    name: str
    alias: str
    version: str


class AliasDeleteIn(_Body):
    name: str
    alias: str


class LatestVersionsIn(_Body):
    name: str
    stages: list[str] = Field(default_factory=list)


class VersionCreateIn(_Body):
    name: str
    source: str
    run_id: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)
    run_link: str | None = None
    description: str = ""
    model_id: str | None = None


class VersionIn(_Body):
    name: str
    version: str


class VersionUpdateIn(VersionIn):
    description: str = ""


class VersionTagIn(VersionIn):
    key: str
    value: str = ""


class TransitionIn(VersionIn):
    stage: str
    archive_existing_versions: bool = False
