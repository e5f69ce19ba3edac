"""What the MLflow routes share: the services they call and the steps that span them.

- experiment ``"0"`` (MLflow's default experiment) is modelplane's ``Default``;
- artifact paths under the proxy name a run's files (``EXP/RUN/artifacts/...``), a
  logged model's files (``EXP/models/MODEL_ID/artifacts/...``) or a registered version's
  model folder (``_modelplane/models/NAME/VERSION/...``, read-only: a native version gets
  a generated ``MLmodel`` so MLflow can load it);
- registering a version from an MLflow source builds a modelplane artifact tree from the
  files already stored (``model/...`` plus a ``modelplane.json``), with no copy of data.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelplane.artifacts.store import ArtifactStore, validate_relative_path
from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.flavors import mlflow as mlflow_flavor
from modelplane.migrate_mlflow.versions import FileEntry, register_files
from modelplane.registry.entities import ModelVersion
from modelplane.registry.service import RegistryService
from modelplane.server.mlflow.convert import VERSIONS_ROOT
from modelplane.server.mlflow.errors import not_supported
from modelplane.tracking.entities import Experiment
from modelplane.tracking.logged_models import SqlLoggedModelStore
from modelplane.tracking.service import TrackingService

__all__ = ["FileEntry", "MlflowContext", "Target"]

DEFAULT_ID = "0"


@dataclass(frozen=True, slots=True)
class Target:
    """What an artifact path names: ``kind`` is run, model or version; ``rel`` the path
    inside it ('' for its root)."""

    kind: str
    owner: str
    rel: str
    version: int = 0


class MlflowContext:
    def __init__(self, tracking: TrackingService, registry: RegistryService,
                 logged: SqlLoggedModelStore, artifacts: ArtifactStore) -> None:
        self.tracking = tracking
        self.registry = registry
        self.logged = logged
        self.artifacts = artifacts

    # -- experiments -------------------------------------------------------------------
    def experiment(self, experiment_id: str) -> Experiment:
        if experiment_id == DEFAULT_ID:
            return self.tracking.get_or_create_experiment("Default")
        if not experiment_id:
            raise InvalidArgumentError("Missing value for required parameter 'experiment_id'",
                                       details={"field": "experiment_id"})
        return self.tracking.get_experiment(experiment_id)

    # -- artifact paths ----------------------------------------------------------------
    def target(self, path: str) -> Target:
        parts = validate_relative_path(path.strip("/"), field="path").split("/")
        if parts[:2] == VERSIONS_ROOT.split("/") and len(parts) >= 4 and parts[3].isdigit():
            return Target("version", parts[2], "/".join(parts[4:]), int(parts[3]))
        if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
            return Target("model", parts[2], "/".join(parts[4:]))
        if len(parts) >= 3 and parts[2] == "artifacts":
            return Target("run", parts[1], "/".join(parts[3:]))
        raise NotFoundError(f"no artifact at {path!r}: expected EXPERIMENT/RUN/artifacts/..., "
                            "EXPERIMENT/models/MODEL_ID/artifacts/... or "
                            f"{VERSIONS_ROOT}/NAME/VERSION/...", details={"path": path})

    def files(self, target: Target) -> list[FileEntry]:
        """Every file of the run, logged model or version (folders expanded)."""
        if target.kind == "model":
            return [FileEntry(f.path, f.digest, f.size) for f in self.logged.files(target.owner)]
        if target.kind == "version":
            return self._version_files(self.registry.get_version(target.owner, target.version))
        found: list[FileEntry] = []
        artifacts = self.tracking.list_artifacts(target.owner)
        if not artifacts:
            self.tracking.get_run(target.owner)  # 404 for an unknown run
        for artifact in artifacts:
            if not artifact.is_dir:
                found.append(FileEntry(artifact.path, artifact.digest, artifact.size))
                continue
            found += [FileEntry(f"{artifact.path}/{e['path']}", e["digest"], e["size"])
                      for e in self.artifacts.read_tree(artifact.digest)]
        return found

    def _version_files(self, version: ModelVersion) -> list[FileEntry]:
        entries = [FileEntry(e["path"][len("model/"):], e["digest"], e["size"])
                   for e in self.artifacts.read_tree(version.artifact_digest)
                   if e["path"].startswith("model/")]
        names = {e.path for e in entries}
        digests = {e.path: e.digest for e in entries}
        if mlflow_flavor.MLMODEL not in names:
            text = mlflow_flavor.mlmodel_for(version.model_meta, names,
                                             lambda name: self.artifacts.get_bytes(
                                                 digests[name]))
            if text is not None:
                data = text.encode()
                entries.append(FileEntry(mlflow_flavor.MLMODEL, self.artifacts.put_bytes(data),
                                         len(data)))
        return entries

    # -- registering versions from MLflow sources --------------------------------------
    def source_files(self, source: str, model_id: str | None) -> tuple[list[FileEntry], str]:
        """The files of an MLflow model source and the run that made them ('' if none)."""
        if model_id or source.startswith("models:/m-"):
            mid = model_id or source.removeprefix("models:/")
            model = self.logged.get(mid)
            return self.files(Target("model", mid, "")), model.run_id or ""
        if source.startswith("runs:/"):
            run_id, _, sub = source.removeprefix("runs:/").partition("/")
            target = Target("run", run_id, sub)
        elif source.startswith("mlflow-artifacts:/"):
            target = self.target(source.removeprefix("mlflow-artifacts:").lstrip("/"))
        else:
            raise not_supported(f"model version source {source!r}",
                                "register from models:/<model_id>, runs:/ or the "
                                "mlflow-artifacts:/ location of a run or logged model")
        prefix = f"{target.rel}/" if target.rel else ""
        files = [FileEntry(f.path[len(prefix):], f.digest, f.size)
                 for f in self.files(target) if f.path.startswith(prefix)]
        return files, target.owner if target.kind == "run" else ""

    def register(self, name: str, source: str, *, run_id: str | None, model_id: str | None,
                 tags: dict[str, str], description: str, actor: str) -> ModelVersion:
        files, made_by = self.source_files(source, model_id)
        return register_files(self.tracking, self.registry, self.artifacts, name, files,
                              source=source, run_id=run_id or made_by or None,
                              mlflow={"model_id": model_id} if model_id else None,
                              tags=tags, description=description, actor=actor)
