"""Copy an MLflow history into modelplane, idempotently.

Experiments are matched by name; runs keep their MLflow ids (so a second import finds
them and adds only what is new: params, tags, metric points, files); registered models
by name, versions by the MLflow version number recorded in ``model_meta["mlflow"]``.
Everything skipped is counted with its reason.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from modelplane.artifacts.store import BlobStore
from modelplane.core.errors import ModelplaneError, NotFoundError
from modelplane.core.timeutil import from_epoch_ms
from modelplane.migrate_mlflow.source import MlflowSource
from modelplane.migrate_mlflow.versions import FileEntry, register_files
from modelplane.registry.service import RegistryService
from modelplane.tracking.entities import DatasetRecord, Run, RunArtifact
from modelplane.tracking.service import TrackingService

__all__ = ["MlflowImporter"]

_STATUS = {"RUNNING": "running", "SCHEDULED": "running", "FINISHED": "finished",
           "FAILED": "failed", "KILLED": "killed"}
_STAGES = {"none": "development", "staging": "staging", "production": "production",
           "archived": "archived"}
Json = dict[str, Any]


class MlflowImporter:
    def __init__(self, source: MlflowSource, tracking: TrackingService,
                 registry: RegistryService, artifacts: BlobStore,
                 progress: Callable[[str], None] = lambda _: None) -> None:
        self.source, self.tracking, self.registry = source, tracking, registry
        self.artifacts, self.progress = artifacts, progress
        self.added: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()

    def run(self) -> tuple[Counter[str], Counter[str]]:
        for exp in self.source.experiments():
            self._experiment(exp)
        for model in self.source.registered_models():
            self._model(model)
        return self.added, self.skipped

    # -- tracking ----------------------------------------------------------------------
    def _experiment(self, exp: Json) -> None:
        tags = {t["key"]: t["value"] for t in exp.get("tags", [])}
        note = tags.pop("mlflow.note.content", "")
        try:
            ours = self.tracking.get_experiment(exp["name"])
        except NotFoundError:
            ours = self.tracking.create_experiment(exp["name"], note, tags)
            self.added["experiments"] += 1
        for run in self.source.runs(exp["experiment_id"]):
            self.progress(f"run {run['info']['run_id']}")
            self._run(ours.id, run)
        if exp.get("lifecycle_stage") == "deleted" and ours.lifecycle != "deleted":
            self.tracking.delete_experiment(ours.id)

    def _run(self, experiment_id: str, data: Json) -> None:
        info, body = data["info"], data["data"]
        tags = {t["key"]: t["value"] for t in body.get("tags", [])}
        params = {p["key"]: p["value"] for p in body.get("params", [])}
        try:
            existing: Run | None = self.tracking.get_run(info["run_id"])
        except NotFoundError:
            existing = None
        if existing is None:
            name = tags.pop("mlflow.runName", None) or info.get("run_name") or info["run_id"][-8:]
            run = Run(id=info["run_id"], experiment_id=experiment_id, name=name,
                      status=_STATUS.get(info.get("status", ""), "finished"),
                      lifecycle="deleted" if info.get("lifecycle_stage") == "deleted"
                      else "active", start_time=from_epoch_ms(info.get("start_time") or 0),
                      end_time=from_epoch_ms(info["end_time"]) if info.get("end_time")
                      else None, parent_run_id=None, user=info.get("user_id", "")[:128],
                      host="", pid=None, source=tags.get("mlflow.source.name", ""),
                      code_commit=tags.get("mlflow.source.git.commit"), code_dirty=None,
                      params=params, tags=tags)
            self.tracking.import_run(run)
            self.added["runs"] += 1
        else:
            tags.pop("mlflow.runName", None)
            new = {k: v for k, v in params.items() if k not in existing.params}
            conflicting = [k for k, v in params.items() if existing.params.get(k, v) != v]
            if conflicting:
                self.skipped["params that differ in modelplane"] += len(conflicting)
            self.tracking.log_batch(info["run_id"], (), new,
                                    {k: v for k, v in tags.items() if existing.tags.get(k) != v})
            if new:
                self.added["params"] += len(new)
        self._metrics(info["run_id"], [m["key"] for m in body.get("metrics", [])])
        self._inputs(info["run_id"], data.get("inputs", {}).get("dataset_inputs", []))
        self._files(info["run_id"], info.get("artifact_uri") or "")

    def _metrics(self, run_id: str, keys: list[str]) -> None:
        for key in keys:
            held = {(m.step, round(m.timestamp.timestamp() * 1000), _same(m.value))
                    for m in self.tracking.metric_history(run_id, key)}
            rows = [(key, float(m["value"]), int(m.get("step") or 0),
                     from_epoch_ms(int(m.get("timestamp") or 0)))
                    for m in self.source.metric_history(run_id, key)
                    if (int(m.get("step") or 0), int(m.get("timestamp") or 0),
                        _same(float(m["value"]))) not in held]
            if rows:
                self.tracking.log_batch(run_id, rows)
                self.added["metric points"] += len(rows)

    def _inputs(self, run_id: str, inputs: list[Json]) -> None:
        import hashlib
        import json

        known = {d.digest for d in self.tracking.run_datasets(run_id)}
        for item in inputs:
            ds = item["dataset"]
            digest = hashlib.sha256(json.dumps([ds["name"], ds.get("digest", ""),
                                                ds.get("source", "")]).encode()).hexdigest()
            if digest in known:
                continue
            role = next((t["value"] for t in item.get("tags", [])
                         if t["key"] == "mlflow.data.context"), "") or "input"
            record = DatasetRecord(digest=digest, name=ds["name"], source=ds.get("source", ""),
                                   num_rows=0, num_columns=0, schema=[],
                                   profile={"mlflow": ds}, created_at=from_epoch_ms(0))
            self.tracking.link_dataset_record(run_id, record, role)
            self.added["datasets"] += 1

    def _files(self, run_id: str, uri: str) -> None:
        if not uri:
            return
        held = {a.path: a.digest for a in self.tracking.list_artifacts(run_id)}
        for path, size in self.source.files(uri):
            if path in held:
                self.skipped["files already imported"] += 1
                continue
            digest = self.artifacts.put_bytes(self.source.read(uri, path))
            self.tracking.record_artifact(run_id, RunArtifact(path, digest, False, size,
                                                              from_epoch_ms(0)))
            self.added["files"] += 1

    # -- registry ----------------------------------------------------------------------
    def _model(self, model: Json) -> None:
        name = model["name"]
        try:
            self.registry.get_model(name)
        except NotFoundError:
            self.registry.create_model(name, description=model.get("description") or "")
            self.added["registered models"] += 1
        for tag in model.get("tags", []):
            self.registry.set_model_tag(name, tag["key"], tag["value"])
        numbers: dict[str, int | None] = {}
        done = {str((v.model_meta.get("mlflow") or {}).get("version")): v.version
                for v in self.registry.list_versions(name, max_results=1000).items}
        for version in self.source.versions(name):
            self.progress(f"model {name} v{version['version']}")
            numbers[version["version"]] = done.get(version["version"]) or \
                self._version(name, version)
        for alias in model.get("aliases", []):
            number = numbers.get(alias["version"])
            if number:
                self.registry.set_alias(name, alias["alias"], number, actor="mlflow-import")
            else:
                self.skipped["aliases to versions not imported"] += 1

    def _version(self, name: str, version: Json) -> int | None:
        uri = version.get("storage_location") or version.get("source") or ""
        try:
            files = [FileEntry(path, self.artifacts.put_bytes(self.source.read(uri, path)), size)
                     for path, size in self.source.files(uri)]
            run_id = version.get("run_id") or None
            if run_id:
                self.tracking.get_run(run_id)
            made = register_files(
                self.tracking, self.registry, self.artifacts, name, files,
                source=version.get("source") or uri, run_id=run_id,
                mlflow={"version": version["version"]},
                tags={t["key"]: t["value"] for t in version.get("tags", [])},
                description=version.get("description") or "", actor="mlflow-import")
        except ModelplaneError as exc:
            self.skipped[f"versions ({exc.message[:80]})"] += 1
            return None
        self.added["model versions"] += 1
        stage = _STAGES.get(str(version.get("current_stage", "None")).lower(), "development")
        if stage != "development":
            self.registry.set_stage(name, made.version, stage, actor="mlflow-import",
                                    reason="imported from MLflow")
        return made.version


def _same(value: float) -> float | str:
    return "nan" if math.isnan(value) else value
