"""The Open Inference Protocol v2 endpoints under ``/v2`` (dispatched by ``ServingLayer``),
for served models and for deployments (a deployment's name wins over a served model's).

Errors here are ``{"error": "..."}``, as the protocol says: a bad request (including an
input the model's signature rejects: a datatype other than the advertised one or its safe
widening, a shape or a value out of range, see ``serving.oip``) is 400, an unknown model
or version 404, a path the server does not implement 404 whatever the method (the model
repository, model config, statistics), a wrong method on a real path 405, a body over
the limit 413, a model still loading 503, a model that raises 500 naming the request id.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from modelplane.__about__ import __version__
from modelplane.core.errors import InvalidArgumentError, ModelplaneError
from modelplane.server.routes._asgi import BINARY, JSON, Reject, Request, decode_body
from modelplane.server.routes.targets import DeploymentTarget, ModelTarget
from modelplane.serving import oip
from modelplane.serving.answer import run_model
from modelplane.serving.jsonio import dumps
from modelplane.serving.runtime import NotReadyError

if TYPE_CHECKING:
    from modelplane.deployments.router import RouteTable
    from modelplane.server.routes.serving import ServingLayer
    from modelplane.serving.runtime import LoadedVersion

__all__ = ["handle"]

Scope = MutableMapping[str, Any]
_SERVER_METADATA = dumps({"name": "modelplane", "version": __version__,
                          "extensions": ["binary_tensor_data"]})
_GET = ("GET", "HEAD")


async def handle(layer: ServingLayer, request: Request, scope: Scope) -> None:
    """Route one ``/v2`` request; every failure becomes ``{"error": "..."}``."""
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
            table = layer.deployments.tables.get(name) if layer.deployments else None
            if rest == ["infer"]:
                target = (DeploymentTarget(table, layer.deployments, layer.metrics)
                          if table is not None and layer.deployments is not None
                          else layer.model_target(name))
                await _infer(layer, request, scope, target, number)
                return
            if rest not in ([], ["ready"]):
                raise _no_route(request)
            _method(request, _GET)
            if table is not None:
                await _describe_deployment(request, table, number, ready=bool(rest))
            else:
                await _describe_model(layer, request, name, number, ready=bool(rest))
            return
        if route not in ([], ["health", "live"], ["health", "ready"]):
            raise _no_route(request)  # 404 whatever the method: see _no_route
        _method(request, _GET)
        if not route:
            await request.respond(200, _SERVER_METADATA)
        elif route == ["health", "live"]:
            await request.respond(200, b'{"live":true}')
        elif route == ["health", "ready"]:
            ready = layer.runtime.ready
            await request.respond(200 if ready else 400, b'{"ready":true}' if ready else
                                  b'{"ready":false,"error":"models are still loading"}')
    except (Reject, oip.OipError, ModelplaneError) as exc:
        await _error(request, exc, None, [])


def _status(exc: Exception) -> int:
    if isinstance(exc, InvalidArgumentError):
        return 400  # the protocol's status for a bad request
    if isinstance(exc, ModelplaneError):
        return exc.http_status
    return int(getattr(exc, "status", 500))


async def _error(request: Request, exc: Exception, handle: LoadedVersion | None,
                 headers: list[Any]) -> None:
    message = getattr(exc, "message", str(exc))
    extra = [*(exc.headers if isinstance(exc, Reject) else []), *headers]
    await request.respond(_status(exc), dumps({"error": message}),
                          version=handle.label if handle is not None else None, extra=extra)


def _no_route(request: Request) -> Reject:
    """A path the server does not implement (the model repository, model config,
    statistics, ...): 404 whatever the method, so a client probing an optional endpoint
    gets one answer (a 405 would claim the path exists)."""
    return Reject(404, f"no such endpoint: {request.method} {request.path}; modelplane "
                  "implements /v2, /v2/health/{live,ready}, /v2/models/NAME[/versions/N]"
                  "[/ready|/infer]", "not_found")


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


async def _describe_model(layer: ServingLayer, request: Request, name: str,
                          number: int | None, *, ready: bool) -> None:
    if not ready:
        current = layer.runtime.get(name, number)
        await request.respond(200, dumps(current.metadata()), version=current.label)
        return
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


async def _describe_deployment(request: Request, table: RouteTable, number: int | None,
                               *, ready: bool) -> None:
    try:
        entry, current = table.version(number) if number is not None else table.pick(None)
    except NotReadyError as exc:
        body = {"name": table.name, "ready": False, "error": exc.message} if ready else {
            "error": exc.message}
        await request.respond(400 if ready else 503, dumps(body))
        return
    variant = [(b"x-modelplane-variant", entry.variant.encode())]
    if ready:
        await request.respond(200, dumps({"name": table.name, "ready": True}),
                              version=current.label, extra=variant)
        return
    meta = current.metadata()
    meta["name"] = table.name
    meta["versions"] = sorted(str(v) for v in table.by_version)
    await request.respond(200, dumps(meta), version=current.label, extra=variant)


async def _infer(layer: ServingLayer, request: Request, scope: Scope,
                 target: ModelTarget | DeploymentTarget, number: int | None) -> None:
    started = time.perf_counter()
    entry: Any = None
    handle: LoadedVersion | None = None
    status, data, result = 200, None, None
    try:
        _method(request, ("POST",))
        target.check(number)
        body = decode_body(await request.body(layer.max_bytes), request.encoding,
                           layer.max_bytes)
        req = oip.parse_request(body, _header_length(request))
        entry, handle = target.pick(target.oip_key(scope, req), number)
        oip.check_outputs(req, [s.name for s in handle.output_specs if s is not None])
        data = oip.request_input(req, handle.model.signature)
        result = await run_model(handle, data, request.id)
        payload, length = oip.encode_response(target.name, handle.label,
                                              handle.named_outputs(result), req)
        extra = target.headers(entry)
        if length is not None:
            extra.append((b"inference-header-content-length", str(length).encode()))
        await request.respond(200, payload, content_type=BINARY if length is not None
                              else JSON, version=handle.label, extra=extra)
    except (Reject, oip.OipError, ModelplaneError) as exc:
        status = _status(exc)
        await _error(request, exc, handle, target.headers(entry))
    finally:
        target.after(entry, handle, status, time.perf_counter() - started, data, result,
                     request.id)
