"""Dependency wiring for routes: services built from the app's settings, by ``Annotated`` alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from modelplane.core.config import Settings
from modelplane.store.db import Database, get_database

__all__ = ["DatabaseDep", "SettingsDep"]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _database(request: Request) -> Database:
    return get_database(request.app.state.settings.database_url)


SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
