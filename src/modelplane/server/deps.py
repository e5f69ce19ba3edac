"""Dependency wiring for routes: services built from the app's settings, by ``Annotated`` alias.

The app holds one :class:`~modelplane.client.Client` (built lazily per capability), so
routes get the same wiring as Python users, e.g. the registry protecting blobs that runs
still reference when a version is deleted.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from modelplane.client import Client
from modelplane.core.config import Settings
from modelplane.registry.service import RegistryService
from modelplane.store.db import Database
from modelplane.tracking.service import TrackingService

__all__ = ["ClientDep", "DatabaseDep", "RegistryDep", "SettingsDep", "TrackingDep"]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _client(request: Request) -> Client:
    client: Client | None = getattr(request.app.state, "client", None)
    if client is None:
        client = request.app.state.client = Client(request.app.state.settings)
    return client


def _database(request: Request) -> Database:
    return _client(request).database


def _registry(request: Request) -> RegistryService:
    return _client(request).registry


def _tracking(request: Request) -> TrackingService:
    return _client(request).tracking


SettingsDep = Annotated[Settings, Depends(_settings)]
ClientDep = Annotated[Client, Depends(_client)]
DatabaseDep = Annotated[Database, Depends(_database)]
RegistryDep = Annotated[RegistryService, Depends(_registry)]
TrackingDep = Annotated[TrackingService, Depends(_tracking)]
