"""Configuration, the error tree, ids and time: no I/O, imports nothing else of modelplane.

Names load on first use, so ``modelplane.core.errors`` does not pull in pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.core.config import Settings, configure, get_settings, reset_settings
    from modelplane.core.errors import (
        AlreadyExistsError,
        ConfigurationError,
        IntegrityCheckError,
        InvalidArgumentError,
        InvalidStateError,
        ModelplaneError,
        NotFoundError,
        PayloadTooLargeError,
        PermissionDeniedError,
        StorageUnavailableError,
        UnauthenticatedError,
    )

_CONFIG = ("Settings", "configure", "get_settings", "reset_settings")
_ERRORS = (
    "AlreadyExistsError",
    "ConfigurationError",
    "IntegrityCheckError",
    "InvalidArgumentError",
    "InvalidStateError",
    "ModelplaneError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "StorageUnavailableError",
    "UnauthenticatedError",
)
__all__ = [
    "AlreadyExistsError",
    "ConfigurationError",
    "IntegrityCheckError",
    "InvalidArgumentError",
    "InvalidStateError",
    "ModelplaneError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Settings",
    "StorageUnavailableError",
    "UnauthenticatedError",
    "configure",
    "get_settings",
    "reset_settings",
]


def __getattr__(name: str) -> Any:
    if name in _CONFIG:
        return getattr(importlib.import_module("modelplane.core.config"), name)
    if name in _ERRORS:
        return getattr(importlib.import_module("modelplane.core.errors"), name)
    raise AttributeError(f"module 'modelplane.core' has no attribute {name!r}")
