"""The Open Inference Protocol v2 endpoints under ``/v2`` (dispatched by ``ServingLayer``).

Errors here are ``{"error": "..."}``, as the protocol says: a bad request (including an
input the model's signature rejects) is 400, an unknown model or version 404, a body over
the limit 413, a model still loading 503, a model that raises 500 naming the request id.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from modelplane.__about__ import __version__
from modelplane.core.errors import InvalidArgumentError, ModelplaneError
from modelplane.server.routes._asgi import BINARY, JSON, Reject, Request, decode_body
from modelplane.serving import oip
from modelplane.serving.jsonio import dumps
from modelplane.serving.runtime import NotReadyError

if TYPE_CHECKING:
    from modelplane.server.routes.serving import ServingLayer
    from modelplane.serving.runtime import LoadedVersion

__all__ = ["handle"]

_SERVER_METADATA = dumps({"name": "modelplane", "version": __version__,
                          "extensions": ["binary_tensor_data"]})
_GET = ("GET", "HEAD")


async def handle(layer: ServingLayer, request: Request) -> None:
    """Route one ``/v2`` request; every failure becomes ``{"error": "..."}``."""
    version_label: str | None = None
    try:
        route = [p for p in request.path.split("/")[2:] if p]
        if route and route[0] == "models" and len(route) >= 2:
            name, rest = route[1], route[2:]
            number = None
            if rest[:1] == ["versions"]:
                if len(rest) < 2:
                    raise _no_route(request)
                number = _version(rest[1])
                rest = rest[2:]
            if rest == ["infer"]:
                await _infer(layer, request, name, number)
                return
            _method(request, _GET)
            if not rest:
                handle_ = layer.runtime.get(name, number)
                version_label = handle_.label
                await request.respond(200, dumps(handle_.metadata()), version=version_label)
            elif rest == ["ready"]:
                await _model_ready(layer, request, name, number)
            else:
                raise _no_route(request)
            return
        _method(request, _GET)
        if not route:
            await request.respond(200, _SERVER_METADATA)
        elif route == ["health", "live"]:
            await request.respond(200, b'{"live":true}')
        elif route == ["health", "ready"]:
            ready = layer.runtime.ready
            await request.respond(200 if ready else 400,
                                  b'{"ready":true}' if ready else b'{"ready":false}')
        else:
            raise _no_route(request)
    except (Reject, oip.OipError, ModelplaneError) as exc:
        await _error(request, exc, version_label)


def _status(exc: Exception) -> int:
    if isinstance(exc, InvalidArgumentError):
        return 400  # the protocol's status for a bad request
    if isinstance(exc, ModelplaneError):
        return exc.http_status
    return int(getattr(exc, "status", 500))


async def _error(request: Request, exc: Exception, version: str | None) -> None:
    message = getattr(exc, "message", str(exc))
    headers = exc.headers if isinstance(exc, Reject) else None
    await request.respond(_status(exc), dumps({"error": message}), version=version,
                          extra=headers)


def _no_route(request: Request) -> Reject:
    return Reject(404, f"no such endpoint: {request.method} {request.path}", "not_found")


def _method(request: Request, allowed: tuple[str, ...]) -> None:
    if request.method not in allowed:
        raise Reject(405, f"method not allowed: {request.method} {request.path}; use "
                     f"{allowed[0]}", "method_not_allowed",
                     headers=[(b"allow", ", ".join(allowed).encode())])


def _version(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise Reject(400, f"model version {text!r} is not a positive integer")
    return int(text)


def _header_length(request: Request) -> int | None:
    raw = request.header_length
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise Reject(400, "Inference-Header-Content-Length must be a byte count, got "
                     f"{raw.decode('latin-1')!r}")
    return int(raw)


async def _model_ready(layer: ServingLayer, request: Request, name: str,
                       number: int | None) -> None:
    served = layer.runtime.models.get(name)
    if served is None:
        layer.runtime.get(name)  # raises the NotFoundError naming what is served
        return
    try:
        current = served.get(number)
    except NotReadyError as exc:
        await request.respond(400, dumps({"name": name, "ready": False, "error": exc.message}))
        return
    await request.respond(200, dumps({"name": name, "ready": True}), version=current.label)


def _check_outputs(req: oip.InferRequest, handle: LoadedVersion) -> None:
    if req.outputs is None:
        return
    names = [s.name for s in handle.output_specs if s is not None]
    for name, _ in req.outputs:
        if name not in names:
            raise oip.OipError(f"unknown output {name!r}; the model has outputs "
                               f"{', '.join(repr(n) for n in names)}")


async def _infer(layer: ServingLayer, request: Request, name: str, number: int | None
                 ) -> None:
    started = time.perf_counter()
    model, label, status = "", "", 200
    handle: Any = None
    data: Any = None
    result: Any = None
    try:
        _method(request, ("POST",))
        handle = layer.lookup(name, number)
        model, label = name, handle.label
        body = decode_body(await request.body(layer.max_bytes), request.encoding,
                           layer.max_bytes)
        req = oip.parse_request(body, _header_length(request))
        # look again: a hot swap during the read may have retired the first handle
        handle = layer.lookup(name, number)
        model, label = name, handle.label
        _check_outputs(req, handle)
        data = oip.model_input(req.inputs, handle.model.signature)
        handle.inflight += 1
        try:
            prepared = handle.model.prepare(data)
            result = await layer.infer(handle, prepared, request)
        finally:
            handle.inflight -= 1
        payload, header_length = oip.encode_response(name, label, handle.named_outputs(result),
                                                     req)
        extra: list[Any] | None = None
        if header_length is not None:
            extra = [(b"inference-header-content-length", str(header_length).encode())]
        await request.respond(200, payload, content_type=BINARY if extra else JSON,
                              version=label, extra=extra)
    except (Reject, oip.OipError, ModelplaneError) as exc:
        status = _status(exc)
        await _error(request, exc, label or None)
    finally:
        seconds = time.perf_counter() - started
        layer.metrics.request(model, label, status, seconds)
        if handle is not None and (status == 200 or status >= 500):
            layer.runtime.predlog.log(name, handle.number, request.id, data, result, seconds,
                                      error=None if status == 200 else f"HTTP {status}")
