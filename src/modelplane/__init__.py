"""modelplane: the whole life of a machine-learning model on one platform.

``import modelplane`` is cheap: the public names below load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelplane.__about__ import __version__
from modelplane.core.defaults import install_default_platform

if TYPE_CHECKING:
    from modelplane.client import Client
    from modelplane.core.config import configure, get_settings
    from modelplane.core.errors import (
        AlreadyExistsError,
        ConfigurationError,
        IntegrityCheckError,
        InvalidArgumentError,
        InvalidStateError,
        ModelplaneError,
        NotFoundError,
        PermissionDeniedError,
        StorageUnavailableError,
    )
    from modelplane.features import (
        Entity,
        FeatureService,
        FeatureStore,
        FeatureView,
        Field,
        FileSource,
        OnDemandFeatureView,
        RequestSource,
        SqlSource,
    )
    from modelplane.fluent import active_run, load_model, start_run
    from modelplane.pipelines import pipeline, step

__all__ = [
    "AlreadyExistsError",
    "Client",
    "ConfigurationError",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "FileSource",
    "IntegrityCheckError",
    "InvalidArgumentError",
    "InvalidStateError",
    "ModelplaneError",
    "NotFoundError",
    "OnDemandFeatureView",
    "PermissionDeniedError",
    "RequestSource",
    "SqlSource",
    "StorageUnavailableError",
    "__version__",
    "active_run",
    "configure",
    "get_settings",
    "load_model",
    "pipeline",
    "start_run",
    "step",
]

_LAZY = {
    "Client": "modelplane.client",
    "active_run": "modelplane.fluent",
    "load_model": "modelplane.fluent",
    "start_run": "modelplane.fluent",
    "pipeline": "modelplane.pipelines",
    "step": "modelplane.pipelines",
    "Entity": "modelplane.features",
    "FeatureService": "modelplane.features",
    "FeatureStore": "modelplane.features",
    "FeatureView": "modelplane.features",
    "Field": "modelplane.features",
    "FileSource": "modelplane.features",
    "OnDemandFeatureView": "modelplane.features",
    "RequestSource": "modelplane.features",
    "SqlSource": "modelplane.features",
    "configure": "modelplane.core.config",
    "get_settings": "modelplane.core.config",
    "AlreadyExistsError": "modelplane.core.errors",
    "ConfigurationError": "modelplane.core.errors",
    "IntegrityCheckError": "modelplane.core.errors",
    "InvalidArgumentError": "modelplane.core.errors",
    "InvalidStateError": "modelplane.core.errors",
    "ModelplaneError": "modelplane.core.errors",
    "NotFoundError": "modelplane.core.errors",
    "PermissionDeniedError": "modelplane.core.errors",
    "StorageUnavailableError": "modelplane.core.errors",
}


def _default_client() -> Any:
    from modelplane.fluent import default_client

    return default_client()


install_default_platform(_default_client)  # for Pipeline.run() and pipelines.trigger()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelplane' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
