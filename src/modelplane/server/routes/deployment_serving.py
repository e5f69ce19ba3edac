"""Serving through a deployment: ``/predict/{deployment}`` and the OIP endpoints
``/v2/models/{deployment}[/versions/{v}][/infer|/ready]``, dispatched by ``ServingLayer``
when a deployment of that name exists (it takes precedence over a served model's name).

A request's variant is picked by the deployment's route table: sticky by the key in the
``x-modelplane-key`` header, else the deployment's ``key_field`` (a field of the record,
of the first record of a list, an OIP request parameter or the first element of the input
tensor of that name), else at random by weight. Responses carry ``x-model-version`` and
``x-modelplane-variant``; ``/predict`` answers also name the deployment and variant. The
answer is sent first; shadow copies and prediction-log records are queued after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, MutableMapping
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import ModelplaneError
from modelplane.server.routes._asgi import BINARY, JSON, Reject, Request, decode_body
from modelplane.serving import oip
from modelplane.serving.jsonio import dumps
from modelplane.serving.runtime import NotReadyError

if TYPE_CHECKING:
    from modelplane.deployments.router import DeploymentRouter, Entry, RouteTable
    from modelplane.server.routes.serving import ServingLayer
    from modelplane.serving.runtime import LoadedVersion

__all__ = ["match_oip", "predict"]

KEY_HEADER = b"x-modelplane-key"
_OFFLOAD_BYTES = 256 * 1024


def _header_key(scope: MutableMapping[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name == KEY_HEADER and value:
            return str(value.decode("latin-1"))
    return None


def _field_key(data: Any, field: str | None) -> str | None:
    if field is None:
        return None
    record = data[0] if isinstance(data, list) and data else data
    if isinstance(record, dict) and record.get(field) is not None:
        return str(record[field])
    return None


def _variant_header(entry: Entry | None) -> list[Any]:
    return [(b"x-modelplane-variant", entry.variant.encode())] if entry is not None else []


async def predict(layer: ServingLayer, request: Request, scope: MutableMapping[str, Any],
                  table: RouteTable) -> None:
    router: DeploymentRouter = layer.deployments  # type: ignore[assignment]
    started = time.perf_counter()
    entry: Entry | None = None
    handle: LoadedVersion | None = None
    status, data, result = 200, None, None
    raw = response = None  # the request's and the answer's JSON, for the prediction log
    try:
        if request.method != "POST":
            raise Reject(405, f"method not allowed: {request.method} {request.path}; use POST",
                         "method_not_allowed", headers=[(b"allow", b"POST")])
        raw = await request.body(layer.max_bytes)
        data = layer._records(raw)
        table = router.tables.get(table.name, table)  # the newest, after the body's wait
        entry, handle = table.pick(_header_key(scope) or _field_key(data, table.key_field))
        handle.inflight += 1
        try:
            if request.content_length > _OFFLOAD_BYTES:
                prepared = await asyncio.to_thread(handle.model.prepare, data)
            else:
                prepared = handle.model.prepare(data)
            try:
                result = await handle.infer(prepared)
            except Exception as exc:
                raise layer.model_failed(handle, request, exc) from None
        finally:
            handle.inflight -= 1
        out: dict[str, Any] = {"model": table.model, "version": handle.number,
                               "deployment": table.name, "variant": entry.variant,
                               "predictions": result[0]}
        if result[1] is not None:
            out["probabilities"] = result[1]
            if handle.classes is not None:
                out["classes"] = handle.classes
        response = dumps(out)
        await request.respond(200, response, version=handle.label,
                              extra=_variant_header(entry))
    except Reject as exc:
        status = exc.status
        await layer._envelope(request, status, exc.code, exc.message, exc.details,
                              [*exc.headers, *_variant_header(entry)],
                              handle.label if handle else None)
    except ModelplaneError as exc:
        status = exc.http_status
        await layer._envelope(request, status, exc.code, exc.message, exc.details,
                              _variant_header(entry), handle.label if handle else None)
    finally:
        _after(layer, router, table, entry, handle, status, started, data, result, request.id,
               raw, response)


def _after(layer: ServingLayer, router: DeploymentRouter, table: RouteTable,
           entry: Entry | None, handle: LoadedVersion | None, status: int, started: float,
           data: Any, result: Any, request_id: str, raw: bytes | None = None,
           response: bytes | None = None) -> None:
    """Figures, then (the answer being sent) shadow copies and the prediction log
    (``raw`` and ``response``: the request's and the answer's JSON bodies)."""
    seconds = time.perf_counter() - started
    label = handle.label if handle is not None else ""
    layer.metrics.request(table.name, label, status, seconds)
    if entry is None or handle is None:
        return
    router.record(table, entry, label, status, seconds)
    if status >= 500:
        router.log(table, entry, handle.number, request_id, data, None, seconds,
                   f"HTTP {status}")
    if status == 200:
        if table.shadows:
            router.shadow(table, data, request_id)
        router.log(table, entry, handle.number, request_id, data, result, seconds,
                   raw=raw, response=response)


# -- Open Inference Protocol --------------------------------------------------------------
def match_oip(layer: ServingLayer, request: Request, scope: MutableMapping[str, Any]
              ) -> Awaitable[None] | None:
    """The handler for a ``/v2/models/{deployment}...`` request, or None when the name is
    not a deployment here (the served models' routes take it)."""
    parts = [p for p in request.path.split("/")[2:] if p]
    if len(parts) < 2 or parts[0] != "models":
        return None
    table = layer.deployments.tables.get(parts[1]) if layer.deployments else None
    if table is None:
        return None
    rest, number = parts[2:], None
    if rest[:1] == ["versions"] and len(rest) >= 2:
        if not rest[1].isdigit():
            return None  # the generic routes answer the bad version
        number, rest = int(rest[1]), rest[2:]
    if rest == ["infer"]:
        return _infer(layer, request, scope, table, number)
    if rest in ([], ["ready"]) and request.method in ("GET", "HEAD"):
        return _describe(request, table, number, ready=bool(rest))
    return None


async def _describe(request: Request, table: RouteTable, number: int | None,
                    ready: bool) -> None:
    try:
        entry, handle = table.version(number) if number is not None else table.pick(None)
    except NotReadyError as exc:
        body = {"name": table.name, "ready": False, "error": exc.message} if ready else {
            "error": exc.message}
        await request.respond(400 if ready else 503, dumps(body))
        return
    except ModelplaneError as exc:
        await request.respond(exc.http_status, dumps({"error": exc.message}))
        return
    if ready:
        await request.respond(200, dumps({"name": table.name, "ready": True}),
                              version=handle.label, extra=_variant_header(entry))
        return
    meta = handle.metadata()
    meta["name"] = table.name
    meta["versions"] = sorted(str(v) for v in table.by_version)
    await request.respond(200, dumps(meta), version=handle.label, extra=_variant_header(entry))


def _oip_key(req: oip.InferRequest, field: str | None) -> str | None:
    if field is None:
        return None
    if req.parameters.get(field) is not None:
        return str(req.parameters[field])
    for tensor in req.inputs:
        if tensor.name == field and tensor.data.size:
            value = tensor.data.reshape(-1)[0]
            return str(value.item() if hasattr(value, "item") else value)
    return None


async def _infer(layer: ServingLayer, request: Request, scope: MutableMapping[str, Any],
                 table: RouteTable, number: int | None) -> None:
    from modelplane.server.routes import oip_routes

    router: DeploymentRouter = layer.deployments  # type: ignore[assignment]
    started = time.perf_counter()
    entry: Entry | None = None
    handle: LoadedVersion | None = None
    status, data, result = 200, None, None
    try:
        if request.method != "POST":
            raise Reject(405, f"method not allowed: {request.method} {request.path}; use POST",
                         "method_not_allowed", headers=[(b"allow", b"POST")])
        body = decode_body(await request.body(layer.max_bytes), request.encoding,
                           layer.max_bytes)
        header_length = oip_routes._header_length(request)
        req = oip.parse_request(body, header_length)
        table = router.tables.get(table.name, table)  # the newest, after the body's wait
        if number is not None:
            entry, handle = table.version(number)
        else:
            entry, handle = table.pick(_header_key(scope) or _oip_key(req, table.key_field))
        oip_routes._check_outputs(req, handle)
        data = oip.model_input(req.inputs, handle.model.signature)
        handle.inflight += 1
        try:
            prepared = handle.model.prepare(data)
            result = await layer.infer(handle, prepared, request)
        finally:
            handle.inflight -= 1
        payload, length = oip.encode_response(table.name, handle.label,
                                              handle.named_outputs(result), req)
        extra = _variant_header(entry)
        if length is not None:
            extra.append((b"inference-header-content-length", str(length).encode()))
        await request.respond(200, payload, content_type=BINARY if length is not None
                              else JSON, version=handle.label, extra=extra)
    except (Reject, oip.OipError, ModelplaneError) as exc:
        status = oip_routes._status(exc)
        message = getattr(exc, "message", str(exc))
        headers = [*(exc.headers if isinstance(exc, Reject) else []), *_variant_header(entry)]
        await request.respond(status, dumps({"error": message}),
                              version=handle.label if handle else None, extra=headers)
    finally:
        _after(layer, router, table, entry, handle, status, started, data, result, request.id)
