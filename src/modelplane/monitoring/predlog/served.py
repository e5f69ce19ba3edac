"""Served answers: what the serving layer hands to the prediction log, one per request.

A served answer is a plain tuple (the cheapest thing to build on the request path), laid
out as :data:`FIELDS`. It becomes one
:class:`~modelplane.monitoring.predlog.records.PredictionRecord` per row only off the
request path (in the log's writer thread, or in the writer process;
see ``wire``): :func:`expand` splits the request's data into rows and pairs each with
its prediction and probabilities. ``data`` may be records, a dict of columns, a DataFrame,
an array, or the request's raw JSON body (bytes) when the model saw it as sent.

A server's writer process gets answers in a flat binary form (:data:`SERVED`): for the
common request, whose JSON body the model saw as sent and whose answer is JSON too, the
two bodies go as they are, behind a fixed header (a key naming model, version, deployment
and variant; the lengths; latency and time), so the request path encodes nothing
(:meth:`~modelplane.monitoring.predlog.process.ProcessLogger.log_served`). Any other answer goes
as the JSON of its tuple under the key :data:`GENERAL`. :func:`unpack` reads them back.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

from orjson import loads

from modelplane.monitoring.predlog.records import PredictionRecord, jsonable

__all__ = ["FIELDS", "GENERAL", "SERVED", "ServedBodies", "answer", "expand", "is_answer",
           "plain_values", "request_rows", "unpack"]

FIELDS = ("model", "version", "request_id", "data", "predictions", "probabilities",
          "latency_s", "error", "deployment", "variant", "time")
_SIZE = len(FIELDS)

# key, request id bytes, body bytes, response bytes, latency seconds, epoch seconds
SERVED = struct.Struct("<HHIIdd")
GENERAL = 0xFFFF  # the key of an answer sent as the JSON of its tuple (in the body)


class ServedBodies(NamedTuple):
    """An answered request as a thread logger queues it: the request's JSON ``body`` as the
    model saw it and the answer's JSON ``response``, split into rows off the request path
    (``rows.LogBatch.add_served``)."""

    model: str
    version: int
    deployment: str | None
    variant: str | None
    request_id: str
    body: bytes
    response: bytes
    seconds: float
    time: float


def answer(model: str, version: int | None, request_id: str, data: Any, result: Any,
           seconds: float, error: str | None = None, deployment: str | None = None,
           variant: str | None = None) -> tuple[Any, ...]:
    """The served-answer tuple of one request (``result`` is ``(predictions,
    probabilities)`` or None when the request failed)."""
    preds, probas = (None, None) if result is None else (result[0], result[1])
    return (model, version, request_id, data, preds, probas, seconds, error, deployment,
            variant, time.time())


def is_answer(record: Any) -> bool:
    return type(record) is tuple and len(record) == _SIZE


def plain_values(values: Any) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    out = tolist() if callable(tolist) else values
    return list(out) if isinstance(out, list | tuple) else [out]


def request_rows(data: Any) -> Iterator[Any]:
    """Rows of a request's data: records, a dict of columns, a DataFrame or an array."""
    if isinstance(data, bytes | bytearray | memoryview):
        data = loads(bytes(data))
    if isinstance(data, dict):
        first = next(iter(data.values()), None)  # one record: scalars (the common case)
        if isinstance(first, list) and all(isinstance(v, list) for v in data.values()):
            for i in range(len(first)):
                yield {k: data[k][i] for k in data}
            return
        yield data
        return
    if isinstance(data, list):
        yield from data
        return
    to_dict = getattr(data, "to_dict", None)
    if callable(to_dict):
        yield from to_dict("records")
        return
    yield from plain_values(data)


def expand(entry: Any, *, plain: bool = False) -> list[PredictionRecord]:
    """The log records of one served answer (a tuple or a list in :data:`FIELDS` order).
    ``plain``: the values already are plain JSON (they came through JSON), so they are
    not converted again."""
    (model, version, request_id, data, preds, probas, seconds, error, deployment,
     variant, at) = entry
    rows = list(request_rows(data))
    n = len(rows)
    preds = [None] * n if preds is None else plain_values(preds)
    probas = [None] * n if probas is None else plain_values(probas)
    if not plain:
        rows = [jsonable(r) for r in rows]
        preds, probas = jsonable(preds), jsonable(probas)
    rid = str(request_id)[:128]
    latency = float(seconds) if seconds is not None and math.isfinite(seconds) else None
    status = "ok" if error is None else "error"
    err = None if error is None else str(error)
    out = []
    for i, row in enumerate(rows):
        outputs = None
        if error is None:
            pred = preds[i] if i < len(preds) else None
            proba = probas[i] if i < len(probas) else None
            outputs = ({"prediction": pred} if proba is None
                       else {"prediction": pred, "probabilities": proba})
        out.append(PredictionRecord(
            request_id=rid, model=str(model), version=int(version or 0), inputs=row,
            outputs=outputs, latency_s=latency, time=float(at), deployment=deployment,
            variant=variant, status=status, error=err, row_index=i))
    return out


def unpack(buffer: bytes | bytearray) -> Iterator[tuple[int, str, bytes, bytes, float, float]]:
    """The answers of a buffer of :data:`SERVED` entries: ``(key, request id, body,
    response, seconds, time)``; under :data:`GENERAL` the body is an answer tuple's JSON.
    Raises ValueError on a truncated buffer."""
    size, end, view = SERVED.size, len(buffer), memoryview(buffer)
    at, read = 0, SERVED.unpack_from
    while at < end:
        if at + size > end:
            raise ValueError("a served answer's header is cut short")
        key, n_id, n_body, n_response, seconds, when = read(buffer, at)
        at += size
        stop = at + n_id + n_body + n_response
        if stop > end:
            raise ValueError("a served answer is cut short")
        rid = str(view[at:at + n_id], "utf-8")
        at += n_id
        body = bytes(view[at:at + n_body])
        at += n_body
        yield key, rid, body, bytes(view[at:stop]), seconds, when
        at = stop
