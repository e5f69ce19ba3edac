"""``POST /predict/{name}``: a JSON record ``{"feature": value, ...}`` or a non-empty list
of them, answered as ``{"model", "version", "predictions", "probabilities", "classes"}``
(and ``deployment``/``variant`` through a deployment). Dispatched by ``ServingLayer``.

Errors use the API envelope ``{"error": {code, message, details}}``: 400 for a body that
is not JSON, 422 naming the field for input the model's signature refuses, 404 for an
unknown model, 413 over the body limit, 503 while loading, 500 naming the request id for
a model that raised. A served model that names a feature service has each record
enriched with its online features first (``?explain=features`` returns what the model
saw).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, ModelplaneError
from modelplane.server.routes._asgi import Reject, Request
from modelplane.serving.answer import OFFLOAD_BYTES, predict_body, run_model
from modelplane.serving.jsonio import JSONDecodeError, dumps, loads

if TYPE_CHECKING:
    from modelplane.server.routes.targets import DeploymentTarget, ModelTarget
    from modelplane.serving.runtime import LoadedVersion

__all__ = ["envelope", "predict", "records"]

_ALLOW_POST = [(b"allow", b"POST")]


async def predict(request: Request, scope: MutableMapping[str, Any],
                  target: ModelTarget | DeploymentTarget, max_bytes: int) -> None:
    started = time.perf_counter()
    entry: Any = None
    handle: LoadedVersion | None = None
    status, data, result = 200, None, None
    raw = response = None  # the request's and the answer's JSON, for the prediction log
    try:
        if request.method != "POST":
            raise Reject(405, f"method not allowed: {request.method} {request.path}; use "
                         "POST", "method_not_allowed", headers=_ALLOW_POST)
        target.check(None)
        raw = await request.body(max_bytes)
        data = records(raw)
        entry, handle = target.pick(target.record_key(scope, data), None)
        features = handle.served.features
        if features is not None:
            listed = data if isinstance(data, list) else [data]
            data, raw = await asyncio.to_thread(features.enrich, listed), None
        result = await run_model(handle, data, request.id,
                                 offload=request.content_length > OFFLOAD_BYTES)
        more = target.fields(entry)
        if features is not None and b"explain=features" in request.query:
            more["features"] = data  # what the model saw, online features included
        response = dumps(predict_body(target.model, handle, result, **more))
        await request.respond(200, response, version=handle.label,
                              extra=target.headers(entry))
    except Reject as exc:
        status = exc.status
        await envelope(request, status, exc.code, exc.message, exc.details,
                       [*exc.headers, *target.headers(entry)], handle)
    except ModelplaneError as exc:
        status = exc.http_status
        await envelope(request, status, exc.code, exc.message, exc.details,
                       target.headers(entry), handle)
    finally:
        target.after(entry, handle, status, time.perf_counter() - started, data, result,
                     request.id, raw, response)


def records(body: bytes) -> Any:
    """The request body as a record or a non-empty list of records (400/422 otherwise)."""
    try:
        data = loads(body)
    except (JSONDecodeError, UnicodeDecodeError) as exc:
        raise Reject(400, f"the request body is not valid JSON: {exc}") from None
    if isinstance(data, dict) and data:
        return data
    if isinstance(data, list) and data:
        for i, record in enumerate(data):
            if not isinstance(record, dict):
                raise InvalidArgumentError(
                    f"record {i} is a {type(record).__name__}; expected an object of "
                    "feature values", details={"field": f"[{i}]", "expected": "object",
                                               "got": type(record).__name__})
        return data
    raise InvalidArgumentError(
        "expected a JSON record {\"feature\": value, ...} or a non-empty list of them",
        details={"field": "body", "expected": "record or list of records",
                 "got": type(data).__name__ if data else "empty"})


async def envelope(request: Request, status: int, code: str, message: str,
                   details: dict[str, Any] | None, headers: list[Any] | None,
                   handle: LoadedVersion | None = None) -> None:
    """Answer ``{"error": {code, message, details}}`` (with ``x-model-version`` when a
    version was picked)."""
    body = dumps({"error": {"code": code, "message": message, "details": details or {}}})
    await request.respond(status, body, version=handle.label if handle is not None else None,
                          extra=headers)
