"""Dependency wiring for routes: the app's services, by ``Annotated`` alias.

``create_app`` builds one :class:`~modelplane.client.Client` per app (each service built
on first use), so routes get the same wiring as Python users, e.g. the registry
protecting blobs that runs still reference when a version is deleted.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from modelplane.client import Client
from modelplane.core.config import Settings
from modelplane.deployments.service import DeploymentService
from modelplane.features.service import FeatureStore
from modelplane.monitoring.service import MonitoringService
from modelplane.registry.service import RegistryService
from modelplane.store.db import Database
from modelplane.tracking.service import TrackingService

__all__ = ["ClientDep", "DatabaseDep", "FeatureStoreDep", "RegistryDep", "SettingsDep",
           "TrackingDep"]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _client(request: Request) -> Client:
    return request.app.state.client  # type: ignore[no-any-return]


def _features(request: Request) -> FeatureStore:
    return _client(request).features


def _database(request: Request) -> Database:
    return _client(request).database


def _registry(request: Request) -> RegistryService:
    return _client(request).registry


def _tracking(request: Request) -> TrackingService:
    return _client(request).tracking


SettingsDep = Annotated[Settings, Depends(_settings)]
ClientDep = Annotated[Client, Depends(_client)]
DatabaseDep = Annotated[Database, Depends(_database)]
FeatureStoreDep = Annotated[FeatureStore, Depends(_features)]
RegistryDep = Annotated[RegistryService, Depends(_registry)]
TrackingDep = Annotated[TrackingService, Depends(_tracking)]


def _monitoring(request: Request) -> MonitoringService:
    return _client(request).monitoring


MonitoringDep = Annotated[MonitoringService, Depends(_monitoring)]
__all__ += ["MonitoringDep"]


def _deployments(request: Request) -> DeploymentService:
    return _client(request).deployments


DeploymentsDep = Annotated[DeploymentService, Depends(_deployments)]
__all__ += ["DeploymentsDep"]


# A version number as the database stores it (a 32-bit integer): anything larger is a 422
# naming the parameter, never an overflow deep in the driver.
MAX_VERSION = 2**31 - 1
VersionPath = Annotated[int, Path(ge=1, le=MAX_VERSION, description="A version number.")]
VersionQuery = Annotated[int | None, Query(ge=1, le=MAX_VERSION,
                                           description="A version number.")]
__all__ += ["MAX_VERSION", "VersionPath", "VersionQuery"]
