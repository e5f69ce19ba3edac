"""modelplane records as MLflow's JSON messages (``service.proto``, ``model_registry.proto``).

Names and shapes follow the protobuf messages; times are epoch milliseconds; enums are
their names (``RUNNING``, ``READY``...). Artifact locations are ``mlflow-artifacts:/``
URIs, which the mlflow client resolves against the tracking server, so every file goes
through the artifact proxy (:mod:`.artifacts`).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from modelplane.registry.entities import ModelVersion, RegisteredModel
from modelplane.tracking.entities import DatasetRecord, Experiment, Metric, Run
from modelplane.tracking.logged_models import LoggedModel

__all__ = [
    "STAGE_FROM_MLFLOW", "STAGE_TO_MLFLOW", "STATUS_FROM_MLFLOW", "STATUS_TO_MLFLOW",
    "dataset_input", "experiment_json", "logged_model_json", "metric_json", "ms",
    "registered_model_json", "run_artifact_uri", "run_json", "version_json",
]

STATUS_TO_MLFLOW = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED",
                    "killed": "KILLED"}
STATUS_FROM_MLFLOW = {v: k for k, v in STATUS_TO_MLFLOW.items()} | {"SCHEDULED": "running"}
STAGE_TO_MLFLOW = {"development": "None", "staging": "Staging", "production": "Production",
                   "archived": "Archived"}
STAGE_FROM_MLFLOW = {v.lower(): k for k, v in STAGE_TO_MLFLOW.items()}
MODEL_STATUS_TO_MLFLOW = {"pending": "LOGGED_MODEL_PENDING", "ready": "LOGGED_MODEL_READY",
                          "failed": "LOGGED_MODEL_UPLOAD_FAILED"}
#: Where a registered version's files are served (see :mod:`.artifacts`).
VERSIONS_ROOT = "_modelplane/models"


def ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def _float(value: float | None) -> float | str:
    if value is None or math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _pairs(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in values.items()]


def experiment_json(exp: Experiment, public_id: str | None = None) -> dict[str, Any]:
    eid = public_id or exp.id
    out: dict[str, Any] = {
        "experiment_id": eid, "name": exp.name, "artifact_location": f"mlflow-artifacts:/{eid}",
        "lifecycle_stage": "deleted" if exp.lifecycle == "deleted" else "active",
        "last_update_time": ms(exp.updated_at), "creation_time": ms(exp.created_at),
        "tags": _pairs(exp.tags)}
    if exp.description and "mlflow.note.content" not in exp.tags:
        out["tags"].append({"key": "mlflow.note.content", "value": exp.description})
    return out


def run_artifact_uri(run: Run) -> str:
    return f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts"


def metric_json(metric: Metric) -> dict[str, Any]:
    return {"key": metric.key, "value": _float(metric.value),
            "timestamp": ms(metric.timestamp), "step": metric.step}


def run_info(run: Run) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.id, "run_uuid": run.id, "run_name": run.name,
        "experiment_id": run.experiment_id, "user_id": run.user,
        "status": STATUS_TO_MLFLOW.get(run.status, "RUNNING"), "start_time": ms(run.start_time),
        "artifact_uri": run_artifact_uri(run),
        "lifecycle_stage": "deleted" if run.lifecycle == "deleted" else "active"}
    if run.end_time is not None:
        info["end_time"] = ms(run.end_time)
    return info


def run_json(run: Run, *, latest: list[Metric] | None = None,
             datasets: list[DatasetRecord] | None = None,
             outputs: list[LoggedModel] | None = None) -> dict[str, Any]:
    """``latest``: the run's latest point per metric, with its step and timestamp, as
    MLflow returns them (without it, from ``run.metrics`` at step 0 and the start time).
    ``datasets``/``outputs`` fill ``inputs``/``outputs`` (a search leaves them out, as
    MLflow's own search does not return model outputs)."""
    start = ms(run.start_time)
    tags = {"mlflow.runName": run.name, **({"mlflow.user": run.user} if run.user else {}),
            **run.tags}
    points = latest if latest is not None else [
        Metric(k, v, 0, run.start_time) for k, v in run.metrics.items()]
    data = {"metrics": [{**metric_json(m), "timestamp": ms(m.timestamp) or start}
                        for m in points],
            "params": _pairs(run.params), "tags": _pairs(tags)}
    out: dict[str, Any] = {"info": run_info(run), "data": data,
                           "inputs": {"dataset_inputs": [dataset_input(d)
                                                         for d in datasets or []]}}
    if outputs:
        out["outputs"] = {"model_outputs": [{"model_id": m.id, "step": m.step}
                                            for m in outputs]}
    return out


def dataset_input(record: DatasetRecord) -> dict[str, Any]:
    """A linked dataset as MLflow's ``DatasetInput``: what an MLflow client logged comes
    back as it was sent (kept in the profile); a native dataset is described from its
    schema and profile."""
    sent = record.profile.get("mlflow") if isinstance(record.profile, dict) else None
    if isinstance(sent, dict):
        dataset = {k: str(sent.get(k, "")) for k in ("digest", "source_type", "source",
                                                    "schema", "profile")}
    else:
        colspec = [{"name": c.get("name"), "type": c.get("dtype")} for c in record.schema]
        dataset = {"digest": record.digest[:8], "source_type": "modelplane",
                   "source": json.dumps({"uri": record.source}),
                   "schema": json.dumps({"mlflow_colspec": colspec}),
                   "profile": json.dumps({"num_rows": record.num_rows})}
    dataset["name"] = record.name
    return {"tags": [{"key": "mlflow.data.context", "value": record.role or "train"}],
            "dataset": dataset}


def registered_model_json(model: RegisteredModel,
                          latest: list[ModelVersion] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": model.name, "creation_timestamp": ms(model.created_at),
        "last_updated_timestamp": ms(model.updated_at), "description": model.description,
        "tags": _pairs(model.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in model.aliases.items()]}
    if latest:
        out["latest_versions"] = [version_json(v) for v in latest]
    return out


def version_source(version: ModelVersion) -> str:
    """Where MLflow's client downloads the version from: the folder MLflow gave at
    registration stays recorded, but files are always served by the proxy."""
    return f"mlflow-artifacts:/{VERSIONS_ROOT}/{version.name}/{version.version}"


def version_json(version: ModelVersion) -> dict[str, Any]:
    mlflow = version.model_meta.get("mlflow") or {}
    out: dict[str, Any] = {
        "name": version.name, "version": str(version.version),
        "creation_timestamp": ms(version.created_at),
        "last_updated_timestamp": ms(version.updated_at), "user_id": version.created_by,
        "current_stage": STAGE_TO_MLFLOW.get(version.stage, "None"),
        "description": version.description,
        "source": mlflow.get("source") or version_source(version),
        "status": "READY", "tags": _pairs(version.tags), "aliases": list(version.aliases)}
    if version.run_id:
        out["run_id"] = version.run_id
    if mlflow.get("model_id"):
        out["model_id"] = mlflow["model_id"]
    return out


def logged_model_json(model: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": model.id, "experiment_id": model.experiment_id, "name": model.name,
        "creation_timestamp_ms": ms(model.created_at),
        "last_updated_timestamp_ms": ms(model.updated_at),
        "artifact_uri": f"mlflow-artifacts:/{model.experiment_id}/models/{model.id}/artifacts",
        "status": MODEL_STATUS_TO_MLFLOW[model.status], "model_type": model.model_type,
        "tags": _pairs(model.tags)}
    if model.run_id:
        info["source_run_id"] = model.run_id
    return {"info": info, "data": {"params": _pairs(model.params), "metrics": []}}
