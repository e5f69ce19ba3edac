"""MLflow's error format on the MLflow routes: ``{"error_code": ..., "message": ...}``.

Codes and statuses follow MLflow's ``databricks.proto`` ``ErrorCode`` and its
``ERROR_CODE_TO_HTTP_STATUS`` table. :class:`MlflowRoute` is the route class of every
MLflow router: it turns the modelplane error tree and request validation errors into
that format, so the mlflow client raises ``RestException`` with the right code instead
of reading modelplane's envelope as an unknown error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    InvalidStateError,
    ModelplaneError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StorageUnavailableError,
    UnauthenticatedError,
)

__all__ = ["MlflowRoute", "NotSupportedError", "mlflow_error", "not_supported"]

log = logging.getLogger("modelplane.server.mlflow")

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"

#: (modelplane error class, MLflow error code, HTTP status): the first match wins.
_MAPPING: list[tuple[type[ModelplaneError], str, int]] = [
    (NotFoundError, RESOURCE_DOES_NOT_EXIST, 404),
    (AlreadyExistsError, "RESOURCE_ALREADY_EXISTS", 400),
    (InvalidArgumentError, INVALID_PARAMETER_VALUE, 400),
    # MLflow answers a changed param (and other refused state changes) with 400
    # INVALID_PARAMETER_VALUE; its INVALID_STATE is a 500 the client would retry.
    (InvalidStateError, INVALID_PARAMETER_VALUE, 400),
    (PermissionDeniedError, "PERMISSION_DENIED", 403),
    (UnauthenticatedError, "UNAUTHENTICATED", 401),
    (PayloadTooLargeError, "RESOURCE_EXHAUSTED", 429),
    (StorageUnavailableError, "TEMPORARILY_UNAVAILABLE", 503),
]


class NotSupportedError(ModelplaneError):
    """An MLflow call (or option) modelplane does not implement: MLflow's
    ``NOT_IMPLEMENTED``, HTTP 501 (the client does not retry it)."""

    code = "not_implemented"
    http_status = 501


def not_supported(what: str, hint: str = "") -> NotSupportedError:
    tail = f" ({hint})" if hint else ""
    return NotSupportedError(f"{what} is not supported by modelplane's MLflow API{tail}; "
                             "see docs/mlflow.md")


def mlflow_error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def from_modelplane(exc: ModelplaneError) -> JSONResponse:
    if isinstance(exc, NotSupportedError):
        return mlflow_error("NOT_IMPLEMENTED", exc.message, 501)
    for cls, code, status in _MAPPING:
        if isinstance(exc, cls):
            return mlflow_error(code, exc.message, status)
    log.error("%s: %s", type(exc).__name__, exc.message)
    return mlflow_error("INTERNAL_ERROR", exc.message, 500)


def from_validation(exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or "request"
    message = f"Invalid value for parameter '{field}': {first.get('msg', 'invalid')}"
    return mlflow_error(INVALID_PARAMETER_VALUE, message, 400)


class MlflowRoute(APIRoute):
    """Answers errors in MLflow's format (the app's handlers answer everything else)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ModelplaneError as exc:
                return from_modelplane(exc)
            except RequestValidationError as exc:
                return from_validation(exc)

        return route
