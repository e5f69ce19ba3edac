"""Configuration, the error tree, ids and time: no I/O, imports nothing else of modelplane."""

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
