"""One place that turns errors into the JSON envelope ``{"error": {code, message, details}}``.

It also closes classes of bad input for every route at once, before any route sees it:
:func:`check_json_body` refuses a JSON body holding an integer that no store can keep
(past 64 bits: a metric step, a profile count, a metadata value) with a 422 naming the
field, and an ``OverflowError`` that still escapes from a driver is a 422, never a 500.

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

from modelplane.core.errors import InvalidArgumentError, ModelplaneError

__all__ = ["check_json_body", "error_response", "install_error_handlers"]

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


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _out_of_range(value: Any, path: list[str]) -> list[str] | None:
    """The path of the first integer in ``value`` outside 64 bits (None when there is none)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return path if not INT64_MIN <= value <= INT64_MAX else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _out_of_range(item, [*path, str(key)])
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _out_of_range(item, [*path, str(i)])
            if found is not None:
                return found
    return None


async def check_json_body(request: Request) -> None:
    """An app-wide dependency: a JSON body with an integer past 64 bits is a 422 naming
    the field. FastAPI has decoded the body already (``request.json()`` is cached), so
    this costs one walk over it."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    if not request.headers.get("content-type", "").startswith("application/json"):
        return
    try:
        body = await request.json()
    except ValueError:
        return  # malformed JSON: FastAPI's own validation error names it
    path = _out_of_range(body, [])
    if path is not None:
        field = ".".join(path) or "body"
        raise InvalidArgumentError(
            f"{field}: integer out of range (at most 64 bits: {INT64_MIN} to {INT64_MAX})",
            details={"field": field, "errors": [{"field": field,
                                                 "message": "integer out of range"}]})


async def _overflow_error(request: Request, exc: Exception) -> JSONResponse:
    # a number too large for a column or a date that overflowed, past the checks above
    log.warning("overflow in %s %s: %s", request.method, request.url.path, exc)
    return error_response(422, "invalid_argument", f"a value is out of range: {exc}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ModelplaneError, _modelplane_error)
    app.add_exception_handler(OverflowError, _overflow_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
