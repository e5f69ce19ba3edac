"""``Client``: tracking, registry (and later features and monitoring) on one object.

Embedded mode: the client opens the metadata database and the artifact store named by
the settings. It also owns the two flows that span capabilities: ``log_model`` (flavor
-> artifact store -> registry, linked to the run) and ``load_model`` (URI -> registry ->
verified artifact -> flavor).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.config import Settings, get_settings

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.deployments.service import DeploymentService
    from modelplane.features.service import FeatureStore
    from modelplane.flavors import LoadedModel
    from modelplane.monitoring.service import MonitoringService
    from modelplane.pipelines.service import PipelineService
    from modelplane.registry.entities import ModelVersion
    from modelplane.registry.service import RegistryService
    from modelplane.store.db import Database
    from modelplane.tracking.run import ActiveRun
    from modelplane.tracking.service import TrackingService

__all__ = ["Client"]


class Client:
    """Entry point to every capability. ``Client()`` uses the configured settings."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    @cached_property
    def database(self) -> Database:
        from modelplane.store.db import get_database

        return get_database(self.settings.database_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from modelplane.artifacts.store import get_artifact_store

        return get_artifact_store(self.settings.artifact_root)

    @cached_property
    def tracking(self) -> TrackingService:
        from modelplane.tracking.service import TrackingService
        from modelplane.tracking.sql import SqlTrackingStore

        return TrackingService(SqlTrackingStore(self.database), self.artifacts)

    @cached_property
    def registry(self) -> RegistryService:
        from modelplane.registry.service import RegistryService
        from modelplane.registry.sql import SqlRegistryStore

        return RegistryService(SqlRegistryStore(self.database), self.artifacts,
                               artifact_references=self._run_artifact_references,
                               stage_gate=self._stage_gate)

    @cached_property
    def pipelines(self) -> PipelineService:
        from modelplane.pipelines.service import PipelineService
        from modelplane.pipelines.sql import SqlPipelineRunStore

        return PipelineService(SqlPipelineRunStore(self.database), self.artifacts, self)

    @cached_property
    def features(self) -> FeatureStore:
        from modelplane.features.service import FeatureStore

        return FeatureStore(self.settings, database=self.database, artifacts=self.artifacts)

    @cached_property
    def monitoring(self) -> MonitoringService:
        from modelplane.monitoring.service import MonitoringService
        from modelplane.monitoring.sql import SqlPredictionStore, SqlReferenceStore, SqlRuleStore
        from modelplane.monitoring.store import PredictionStore

        db = self.database
        in_db = SqlPredictionStore(db)
        predictions: PredictionStore = in_db
        if self.settings.prediction_log_storage == "parquet":  # rows as Parquet artifacts
            from modelplane.monitoring.parquet import ParquetPredictionStore

            predictions = ParquetPredictionStore(in_db, self.artifacts)
        service = MonitoringService(predictions, SqlReferenceStore(db), SqlRuleStore(db),
                                    registry=self.registry, tracking=self.tracking)
        from modelplane.deployments.actions import register_actions

        register_actions(self, service)  # rollback_deployment, fail_canary_gate
        from modelplane.pipelines.actions import register_pipeline_actions

        register_pipeline_actions(self, service)  # start_pipeline (retrain)
        return service

    @cached_property
    def deployments(self) -> DeploymentService:
        from modelplane.deployments.service import DeploymentService
        from modelplane.deployments.sql import SqlDeploymentStore

        return DeploymentService(SqlDeploymentStore(self.database), self.registry,
                                 client=self)

    def _stage_gate(self, name: str, version: int, stage: str) -> str:
        """Evaluation gates before a move into staging or production (see deployments)."""
        return self.deployments.check_stage(name, version, stage)

    def _run_artifact_references(self, digests: set[str]) -> set[str]:
        """Which of ``digests`` runs' artifacts still use (kept when a version goes)."""
        return self.tracking.referenced_digests(digests)

    # -- runs --------------------------------------------------------------------------
    def start_run(self, experiment: str = "Default", *, name: str | None = None,
                  params: dict[str, Any] | None = None, tags: dict[str, Any] | None = None,
                  parent_run_id: str | None = None, synchronous: bool = False) -> ActiveRun:
        from modelplane.tracking.run import ActiveRun

        run = self.tracking.start_run(experiment, name=name, params=params, tags=tags,
                                      parent_run_id=parent_run_id)
        return ActiveRun(self.tracking, run, synchronous=synchronous,
                         model_logger=self.log_model)

    # -- models ------------------------------------------------------------------------
    def log_model(self, run_id: str | None, model: Any, name: str, *,
                  input_example: Any = None, flavor: str | None = None, onnx: bool = False,
                  description: str = "", tags: dict[str, str] | None = None,
                  stage: str | None = None, alias: str | None = None) -> ModelVersion:
        """Save ``model`` with its flavor, store it by digest and register a new version
        of ``name`` that records the run, its metrics, datasets and code version.

        ``onnx=True`` also converts a scikit-learn model with skl2onnx (checked to give
        the same predictions on the example) and stores it beside the original: load it
        with ``load_model(uri, format="onnx")``.
        """
        from modelplane import flavors

        run = self.tracking.get_run(run_id) if run_id else None
        with tempfile.TemporaryDirectory(prefix="modelplane-model-") as tmp:
            meta = flavors.save_model(model, Path(tmp) / "model", input_example=input_example,
                                      flavor=flavor)
            extra: dict[str, Any] = {}
            if onnx:
                flavors.convert_sklearn_to_onnx(model, input_example, Path(tmp) / "onnx")
                extra["formats"] = ["onnx"]
            digest = self.artifacts.put_dir(tmp)
            size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        datasets = []
        if run is not None:
            datasets = [{"digest": d.digest, "name": d.name, "role": d.role}
                        for d in self.tracking.run_datasets(run.id)]
        model_meta = {**meta.to_dict(), **extra}
        version = self.registry.create_version(
            name, artifact_digest=digest, flavor=meta.flavor, size=size,
            run_id=run.id if run else None, signature=model_meta.get("signature"),
            input_example=model_meta.get("input_example"),
            metrics=dict(run.metrics) if run else {}, datasets=datasets,
            model_meta=model_meta, code_commit=run.code_commit if run else None,
            code_dirty=run.code_dirty if run else None, description=description, tags=tags,
            actor=run.user if run else "")
        if stage:
            version = self.registry.set_stage(name, version.version, stage)
        if alias:
            self.registry.set_alias(name, alias, version.version)
        return version

    def load_model(self, uri: str, *, format: str | None = None) -> LoadedModel:
        """Load ``models:/name:3``, ``models:/name@champion`` or ``models:/name@production``.

        The artifact is fetched once into the local cache and verified against its digest.
        """
        from modelplane import flavors

        version = self.registry.resolve(uri)
        root = self.materialize(version.artifact_digest)
        if format is None:
            return flavors.load_model(root / "model")
        if format not in version.model_meta.get("formats", []):
            from modelplane.core.errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"{uri} has no {format!r} form; it has "
                f"{', '.join(['native', *version.model_meta.get('formats', [])])}",
                details={"field": "format"})
        return flavors.load_model(root / format)

    def materialize(self, digest: str) -> Path:
        """The local folder holding artifact tree ``digest`` (downloaded once, verified)."""
        cache = self.settings.home / "cache" / "models"
        final = cache / digest
        if (final / ".complete").exists():
            return final
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{digest}.{uuid.uuid4().hex}"
        try:
            self.artifacts.get_dir(digest, tmp)
            (tmp / ".complete").touch()
            try:
                os.rename(tmp, final)
            except OSError:  # another process finished first
                if not (final / ".complete").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final
