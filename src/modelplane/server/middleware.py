"""Pure-ASGI middleware (no BaseHTTPMiddleware: it costs a task and a copy per request).

``RequestIdMiddleware`` takes ``x-request-id`` from the request (or makes one), puts it
in ``scope["state"]["request_id"]`` and echoes it on every response, errors included;
an exception nothing else handled becomes a 500 envelope naming the request id (never a
stack trace), which is why it, not a FastAPI handler, owns that case.
``BodyLimitMiddleware`` answers 413 for a body over the configured limit.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.exceptions import HTTPException

from modelplane.core.ids import new_id

__all__ = ["UPLOAD_PATHS", "BodyLimitMiddleware", "RequestIdMiddleware"]

log = logging.getLogger("modelplane.server")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Scope = dict[str, Any]


class RequestIdMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _VALID_ID.match(candidate):
                    request_id = candidate
                break
        if not request_id:
            request_id = new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        started = False

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            if started:
                raise
            body = json.dumps({"error": {
                "code": "internal",
                "message": f"internal error while handling request {request_id}; "
                "see the server log",
                "details": {"request_id": request_id},
            }}).encode()
            await send_with_id({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]})
            await send({"type": "http.response.body", "body": body})


#: The routes that stream uploads to the artifact store: only these get the upload limit.
UPLOAD_PATHS = re.compile(
    r"^(/api/v1/artifacts/blobs/[^/]+"
    r"|/api/v1/runs/[^/]+/artifacts/.+"
    r"|/api/2\.0/mlflow-artifacts/artifacts/.+)$")


class BodyLimitMiddleware:
    """``max_bytes`` for every request body, except artifact uploads (``PUT`` to one of
    :data:`UPLOAD_PATHS`), which stream to the artifact store under ``max_upload_bytes``.
    A path merely containing ``/artifacts/`` (a model or tag named "artifacts") is an
    ordinary route with the ordinary limit."""

    def __init__(self, app: Any, max_bytes: int, max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if scope["method"] == "PUT" and UPLOAD_PATHS.match(scope["path"]):
            limit = self.max_upload_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await self._reject(send, limit)
                    return
                break
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reject(send, limit)

    async def _reject(self, send: Any, limit: int) -> None:
        body = json.dumps({"error": {
            "code": "payload_too_large",
            "message": f"request body is larger than the limit of {limit} bytes",
            "details": {"limit_bytes": limit},
        }}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        ]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so FastAPI's body parsing re-raises it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {limit} bytes")
