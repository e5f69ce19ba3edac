"""The modelplane error tree.

Every error a user can meet is one of these; the HTTP layer maps ``http_status``
and ``code`` onto the JSON envelope ``{"error": {"code", "message", "details"}}`` and
the CLI prints ``message`` on one line with a non-zero exit code::

    ModelplaneError                      500  internal
    ├── NotFoundError                    404  not_found
    ├── AlreadyExistsError               409  already_exists
    ├── InvalidArgumentError             422  invalid_argument
    │   └── ConfigurationError           422  invalid_configuration
    ├── InvalidStateError                409  invalid_state
    ├── PermissionDeniedError            403  permission_denied
    ├── UnauthenticatedError             401  unauthenticated
    ├── PayloadTooLargeError             413  payload_too_large
    ├── IntegrityCheckError              500  integrity_check_failed
    └── StorageUnavailableError          503  storage_unavailable
"""

from __future__ import annotations

from typing import Any

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
    "StorageUnavailableError",
    "UnauthenticatedError",
]


class ModelplaneError(Exception):
    """Base of every error modelplane raises on purpose.

    ``details`` carries machine-readable context (the field, the accepted values, a
    position in a filter string) and is returned verbatim in the HTTP error envelope.
    """

    code = "internal"
    http_status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFoundError(ModelplaneError):
    code = "not_found"
    http_status = 404


class AlreadyExistsError(ModelplaneError):
    code = "already_exists"
    http_status = 409


class InvalidArgumentError(ModelplaneError):
    code = "invalid_argument"
    http_status = 422


class ConfigurationError(InvalidArgumentError):
    """A setting (environment variable or ``configure`` argument) has a bad value."""

    code = "invalid_configuration"


class InvalidStateError(ModelplaneError):
    code = "invalid_state"
    http_status = 409


class PermissionDeniedError(ModelplaneError):
    code = "permission_denied"
    http_status = 403


class UnauthenticatedError(ModelplaneError):
    code = "unauthenticated"
    http_status = 401


class PayloadTooLargeError(ModelplaneError):
    code = "payload_too_large"
    http_status = 413


class IntegrityCheckError(ModelplaneError):
    """Stored bytes do not match their recorded digest (corruption or tampering)."""

    code = "integrity_check_failed"
    http_status = 500


class StorageUnavailableError(ModelplaneError):
    """A backend (database, object store, Redis) cannot be reached or refused the work."""

    code = "storage_unavailable"
    http_status = 503
