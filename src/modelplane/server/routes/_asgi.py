"""The few HTTP pieces the serving layer needs, over raw ASGI: one pass over the headers,
the body under a byte limit (and gzip/deflate decoding), a response with the request id.

Lighter than Starlette's ``Request``/``Response`` on purpose: this is the per-request path.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import MutableMapping
from typing import Any

__all__ = ["BINARY", "JSON", "Reject", "Request", "decode_body", "request_id", "too_large"]

Scope = MutableMapping[str, Any]
JSON = b"application/json"
BINARY = b"application/octet-stream"
_random = random.Random()  # seeded from os.urandom


def request_id() -> str:
    """A new request id shaped like ``core.ids.new_id`` (48 bits of milliseconds, 80
    random bits, hex) without its system call: ids label requests, they guard nothing."""
    return f"{int(time.time() * 1000):012x}{_random.getrandbits(80):020x}"


_ID_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


class Reject(Exception):
    """Answer with ``status``: ``{"error": message}`` under /v2, the envelope elsewhere."""

    def __init__(self, status: int, message: str, code: str = "bad_request",
                 details: dict[str, Any] | None = None, headers: list[Any] | None = None
                 ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.details, self.headers = details or {}, headers or []


class Request:
    """What the layer needs from one HTTP request, read in one pass over the headers."""

    __slots__ = ("content_length", "encoding", "header_length", "id", "method", "path",
                 "query", "receive", "send", "started")

    def __init__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: bytes = scope.get("query_string", b"")
        self.receive, self.send = receive, send
        self.started = False
        self.id = ""
        self.content_length = -1
        self.header_length: bytes | None = None
        self.encoding: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if 0 < len(value) <= 128 and _ID_CHARS.issuperset(value):
                    self.id = value.decode()
            elif name == b"content-length":
                if value.isdigit():
                    self.content_length = int(value)
            elif name == b"inference-header-content-length":
                self.header_length = value
            elif name == b"content-encoding":
                self.encoding = value.strip().lower()
        if not self.id:
            self.id = request_id()
        scope.setdefault("state", {})["request_id"] = self.id

    async def body(self, limit: int) -> bytes:
        if self.content_length > limit:
            raise too_large(limit)
        message = await self.receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):
            if len(body) > limit:
                raise too_large(limit)
            return body
        chunks, size = [body], len(body)
        while message.get("more_body"):
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise Reject(400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def respond(self, status: int, body: bytes, *, content_type: bytes = JSON,
                      version: str | None = None, extra: list[Any] | None = None) -> None:
        headers = [(b"content-type", content_type),
                   (b"content-length", str(len(body)).encode()),
                   (b"x-request-id", self.id.encode())]
        if version is not None:
            headers.append((b"x-model-version", version.encode()))
        if extra:
            headers.extend(extra)
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


def too_large(limit: int) -> Reject:
    return Reject(413, f"request body is larger than the limit of {limit} bytes",
                   "payload_too_large", {"limit_bytes": limit})


def decode_body(body: bytes, encoding: bytes | None, limit: int) -> bytes:
    if encoding in (None, b"identity"):
        return body
    if encoding not in (b"gzip", b"deflate"):
        raise Reject(415, f"unsupported Content-Encoding {encoding.decode('latin-1')!r}; "
                      "expected gzip, deflate or identity", "unsupported_media_type")
    inflater = zlib.decompressobj(wbits=31 if encoding == b"gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Reject(400, f"the {encoding.decode()} body cannot be decoded: {exc}") from None
    if len(out) > limit:
        raise too_large(limit)
    return out


