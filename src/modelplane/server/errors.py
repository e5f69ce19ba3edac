"""One place that turns errors into the JSON envelope ``{"error": {code, message, details}}``.

Starlette looks exception handlers up along the MRO, so one handler for
``ModelplaneError`` covers the whole tree. Anything unexpected becomes a 500 that names
the request id and never shows a stack trace (``middleware.RequestIdMiddleware`` does that,
so the response still carries ``x-request-id``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelplane.core.errors import ModelplaneError

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("modelplane.server")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_argument",
    429: "too_many_requests",
}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "request")


async def _modelplane_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelplaneError)
    if exc.http_status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    return error_response(exc.http_status, exc.code, exc.message, exc.details)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_name(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "request", "message": "invalid request"}
    return error_response(
        422, "invalid_argument", f"{first['field']}: {first['message']}", {"errors": errors}
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = str(exc.detail)
    if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
        message = f"{message.lower()}: {request.method} {request.url.path}"
    response = error_response(exc.status_code, code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ModelplaneError, _modelplane_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
