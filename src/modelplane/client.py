"""``Client``: tracking, registry, features, pipelines, monitoring and deployments on one object.

Two modes, one API. Embedded (the default): the client opens the metadata database and
the artifact store named by the settings. Remote (``MODELPLANE_SERVER_URL`` or
``configure(server_url=...)``): tracking and the registry run on stores that call the
server's REST API, and artifacts are uploaded to and downloaded from the server, so the
process needs no database credentials and no access to the artifact store; capabilities
without a REST path yet raise a clear error instead of opening anything local.

The client only builds and wires: each capability's service gets the narrow
collaborators it uses (see docs/architecture.md), built once per client and on first use.
``log_model`` (:class:`~modelplane.registry.logmodel.ModelLogger`) and ``load_model``
(:class:`~modelplane.registry.models.ModelFiles`, the one verified model cache) are
conveniences over the services it builds.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.config import Settings, get_settings

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.auth.service import AuthService
    from modelplane.deployments.service import DeploymentService
    from modelplane.features.service import FeatureStore
    from modelplane.flavors import LoadedModel
    from modelplane.monitoring.service import MonitoringService
    from modelplane.pipelines.service import PipelineService
    from modelplane.pipelines.services import StepServices
    from modelplane.pipelines.sql import SqlPipelineRunStore
    from modelplane.registry.entities import ModelVersion
    from modelplane.registry.logmodel import ModelLogger
    from modelplane.registry.models import ModelFiles
    from modelplane.registry.service import RegistryService
    from modelplane.remote.http import RemoteTransport
    from modelplane.store.db import Database
    from modelplane.tracking.logged_models import SqlLoggedModelStore
    from modelplane.tracking.run import ActiveRun
    from modelplane.tracking.service import TrackingService

__all__ = ["Client"]


class Client:
    """Entry point to every capability. ``Client()`` uses the configured settings.

    ``remote``: ``None`` follows the settings (remote when ``server_url`` is set);
    ``False`` forces embedded mode (what the server itself must use).
    """

    def __init__(self, settings: Settings | None = None, *,
                 remote: bool | None = None) -> None:
        self.settings = settings or get_settings()
        self.remote = self.settings.is_remote if remote is None else remote
        if self.remote and not self.settings.server_url:
            from modelplane.core.errors import ConfigurationError

            raise ConfigurationError("remote=True needs a server URL: set "
                                     "MODELPLANE_SERVER_URL or configure(server_url=...)",
                                     details={"field": "MODELPLANE_SERVER_URL"})

    @cached_property
    def http(self) -> RemoteTransport:
        """The connection to the server (remote mode only)."""
        if not self.remote:
            from modelplane.core.errors import ConfigurationError

            raise ConfigurationError("this client is embedded: set MODELPLANE_SERVER_URL "
                                     "to talk to a server", details={"field": "server_url"})
        from modelplane.remote.http import RemoteTransport

        return RemoteTransport(self.settings.server_url, token=self.settings.token)

    @cached_property
    def database(self) -> Database:
        if self.remote:
            from modelplane.core.errors import ConfigurationError

            raise ConfigurationError(
                f"a remote client does not open the metadata database (the server at "
                f"{self.settings.server_url} does); unset MODELPLANE_SERVER_URL to use it "
                "embedded", details={"field": "MODELPLANE_SERVER_URL"})
        from modelplane.store.db import get_database

        return get_database(self.settings.database_url, self.settings)

    @cached_property
    def auth(self) -> AuthService:
        """Users, tokens and the audit log (embedded: what a server checks tokens with)."""
        self._embedded_only("auth")
        from modelplane.auth.service import AuthService
        from modelplane.auth.sql import SqlAuthStore

        oidc = None
        if self.settings.oidc_issuer:
            from modelplane.auth.oidc import OidcVerifier

            oidc = OidcVerifier(self.settings.oidc_issuer,
                                audience=self.settings.oidc_audience,
                                jwks_url=self.settings.oidc_jwks_url,
                                role_claim=self.settings.oidc_role_claim)
        return AuthService(SqlAuthStore(self.database),
                           cache_seconds=self.settings.auth_cache_seconds, oidc=oidc)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store; in remote mode the server's, through its blob API."""
        if self.remote:
            from modelplane.remote.artifacts import RemoteArtifactStore

            return RemoteArtifactStore(self.http)  # type: ignore[return-value]
        from modelplane.artifacts.store import get_artifact_store

        return get_artifact_store(self.settings.artifact_root)

    @cached_property
    def tracking(self) -> TrackingService:
        from modelplane.tracking.service import TrackingService

        if self.remote:
            from modelplane.remote.tracking import RemoteTrackingStore

            return TrackingService(RemoteTrackingStore(self.http),  # type: ignore[arg-type]
                                   self.artifacts)
        from modelplane.tracking.sql import SqlTrackingStore

        return TrackingService(SqlTrackingStore(self.database), self.artifacts)

    @cached_property
    def registry(self) -> RegistryService:
        from modelplane.registry.service import RegistryService

        if self.remote:  # the server applies stage gates and removes deleted artifacts
            from modelplane.remote.registry import RemoteRegistryStore

            return RegistryService(RemoteRegistryStore(self.http), self.artifacts,
                                   verify_artifacts=False)  # the server checks digests
        from modelplane.registry.sql import SqlRegistryStore

        return RegistryService(SqlRegistryStore(self.database), self.artifacts,
                               artifact_references=self._run_artifact_references,
                               stage_gate=self._stage_gate)

    def _embedded_only(self, capability: str) -> None:
        if self.remote:
            from modelplane.remote.unavailable import not_available

            raise not_available(capability)

    @cached_property
    def logged_models(self) -> SqlLoggedModelStore:
        """MLflow 3's logged models (what the MLflow REST API records for ``log_model``)."""
        self._embedded_only("logged models")
        from modelplane.tracking.logged_models import SqlLoggedModelStore

        return SqlLoggedModelStore(self.database)

    @cached_property
    def models(self) -> ModelFiles:
        """Registered models as verified local files: the one model cache that
        ``load_model``, ``materialize``, serving and batch inference read through."""
        from modelplane.registry.models import ModelFiles

        return ModelFiles(self.registry, self.artifacts, self.settings.home / "cache" / "models",
                          allow_pickle=self.settings.allow_pickle)

    @cached_property
    def model_logger(self) -> ModelLogger:
        from modelplane.registry.logmodel import ModelLogger

        return ModelLogger(self.registry, self.artifacts, runs=self.tracking)

    @cached_property
    def pipeline_runs(self) -> SqlPipelineRunStore:
        """The pipeline runs' store (steps, cache, lineage, checkpoints)."""
        self._embedded_only("pipelines")
        from modelplane.pipelines.sql import SqlPipelineRunStore

        return SqlPipelineRunStore(self.database)

    @cached_property
    def step_services(self) -> StepServices:
        """What pipeline steps run by this client may use (``current.services``)."""
        from modelplane.pipelines.services import StepServices

        return StepServices(artifacts=self.artifacts, tracking=self.tracking,
                            registry=self.registry, models=self.models,
                            model_logger=self.model_logger, run_store=self.pipeline_runs)

    @cached_property
    def pipelines(self) -> PipelineService:
        self._embedded_only("pipelines")
        from modelplane.pipelines.service import PipelineService
        from modelplane.pipelines.sql import SqlScheduleStore

        s = self.settings
        return PipelineService(self.pipeline_runs, self.artifacts,
                               services=lambda: self.step_services,
                               schedules=SqlScheduleStore(self.database),
                               worker_settings={"home": str(s.home),
                                                "database_url": s.database_url,
                                                "artifact_root": s.artifact_root})

    @cached_property
    def features(self) -> FeatureStore:
        self._embedded_only("the feature store")
        from modelplane.features.service import FeatureStore

        return FeatureStore(self.settings, database=self.database, artifacts=self.artifacts)

    @cached_property
    def monitoring(self) -> MonitoringService:
        """Monitoring, with the alert actions that act on this client's deployments
        (rollback_deployment, fail_canary_gate) and pipelines (start_pipeline). Remote:
        the server's, whose rules run their actions there."""
        if self.remote:
            from modelplane.remote.monitoring import RemoteMonitoring

            return RemoteMonitoring(self.http)  # type: ignore[return-value]
        return self.monitoring_service()

    def monitoring_service(self, *, actions: bool = True) -> MonitoringService:
        """A new monitoring service on this client's stores; ``actions=False`` leaves
        out the deployment and pipeline actions (the prediction log's writer process
        only writes rows)."""
        self._embedded_only("monitoring")
        from modelplane.monitoring.service import MonitoringService
        from modelplane.monitoring.sql import SqlPredictionStore, SqlReferenceStore, SqlRuleStore
        from modelplane.monitoring.store import PredictionStore

        db = self.database
        in_db = SqlPredictionStore(db)
        predictions: PredictionStore = in_db
        if self.settings.prediction_log_storage == "parquet":  # rows as Parquet artifacts
            from modelplane.monitoring.parquet import ParquetPredictionStore

            predictions = ParquetPredictionStore(in_db, self.artifacts)
        from modelplane.monitoring.actions import ActionRegistry

        service = MonitoringService(predictions, SqlReferenceStore(db), SqlRuleStore(db),
                                    registry=self.registry, tracking=self.tracking,
                                    actions=ActionRegistry(
                                        webhook_allow=self.settings.webhook_allow))
        if actions:
            from modelplane.deployments.actions import register_actions
            from modelplane.pipelines.actions import register_pipeline_actions

            register_actions(service.actions, lambda: self.deployments)
            register_pipeline_actions(service.actions, lambda: self.pipelines)
        return service

    @cached_property
    def deployments(self) -> DeploymentService:
        if self.remote:  # the server's service changes deployments (under its row locks)
            from modelplane.remote.deployments import RemoteDeployments

            return RemoteDeployments(self.http, self.registry)  # type: ignore[return-value]
        from modelplane.deployments.service import DeploymentService, GateSources
        from modelplane.deployments.sql import SqlDeploymentStore

        return DeploymentService(SqlDeploymentStore(self.database), self.registry,
                                 figures=lambda: self.monitoring,
                                 gate_sources=GateSources(models=self.models,
                                                          runs=self.tracking))

    def close(self) -> None:
        """Close pooled connections to the server (remote mode); a later call opens new
        ones, so the client stays usable."""
        http = self.__dict__.get("http")
        if http is not None:
            http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.settings.server_url if self.remote else self.settings.home
        return f"<Client {'remote' if self.remote else 'embedded'} {where}>"

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
        of ``name`` that records the run, its metrics, datasets and code version (see
        :meth:`ModelLogger.log_model <modelplane.registry.logmodel.ModelLogger.log_model>`)."""
        return self.model_logger.log_model(
            run_id, model, name, input_example=input_example, flavor=flavor, onnx=onnx,
            description=description, tags=tags, stage=stage, alias=alias)

    def load_model(self, uri: str, *, format: str | None = None,
                   allow_pickle: bool = False) -> LoadedModel:
        """Load ``models:/name:3``, ``models:/name@champion`` or ``models:/name@production``.

        The artifact is fetched once into the local cache and every file is checked
        against the registry's digests on each load. A pickle-stored version loads only
        with ``allow_pickle=True``, the ``MODELPLANE_ALLOW_PICKLE`` setting, or the
        model's admin setting.
        """
        return self.models.load(uri, format=format, allow_pickle=allow_pickle)

    def materialize(self, digest: str) -> Path:
        """The local folder holding artifact tree ``digest`` (downloaded once, verified)."""
        return self.models.fetch(digest)
