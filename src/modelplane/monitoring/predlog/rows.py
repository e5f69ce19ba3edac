"""A batch of prediction-log rows, encoded once, as both stores write them.

:class:`LogBatch` holds one tuple per predicted row in :data:`LOG_COLUMNS` order, with the
inputs and outputs already JSON text: the SQL store hands the tuples to one
``executemany`` and the Parquet store turns them into columns, so neither touches a row's
values again. Rows come from records (the Python API and the in-thread logger), from
served answers (see ``served``), or from a served request as it came over the wire: the
request body and the response body as bytes. A one-record JSON body is stored as sent
(valid JSON, since the server parsed it), so the common request is never parsed or
re-encoded here; its values are parsed only when the drift counts need them
(:meth:`LogBatch.values`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import orjson

from modelplane.monitoring.predlog.records import PredictionRecord, normalise_record
from modelplane.monitoring.predlog.served import (
    GENERAL,
    ServedBodies,
    expand,
    is_answer,
    request_rows,
    unpack,
)

__all__ = ["LOG_COLUMNS", "LogBatch", "LogRow", "log_row"]


class LogRow(NamedTuple):
    """One row of the prediction log as both stores write it (``ts`` in epoch
    milliseconds; ``inputs`` and ``outputs`` JSON text when written, values when read)."""

    model: str
    version: int
    deployment: str | None
    variant: str | None
    request_id: str
    row_index: int
    ts: int
    inputs: Any
    outputs: Any
    latency_s: float | None
    cache_hit: bool
    status: str
    error: str | None


LOG_COLUMNS: tuple[str, ...] = LogRow._fields
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=_OPTIONS).decode()


def log_row(r: PredictionRecord) -> LogRow:
    """A record's row (``ts`` in epoch milliseconds)."""
    return LogRow(r.model, int(r.version or 0), r.deployment, r.variant, r.request_id, r.row_index,
            int(r.time * 1000), _json(r.inputs), _json(r.outputs), r.latency_s,
            bool(r.cache_hit), r.status, r.error)


def _one_record(body: bytes) -> bool:
    """A JSON object with no array anywhere: one record of scalars (or nested objects),
    stored as sent. Anything else (a list of records, a dict of columns) is split."""
    return body[:1] == b"{" and b"[" not in body


class LogBatch:
    """Rows to write (see the module docstring) and, where they were at hand, each row's
    inputs and outputs as values (None where only the text is kept)."""

    __slots__ = ("_values", "rows")

    def __init__(self) -> None:
        self.rows: list[LogRow] = []
        self._values: list[tuple[Any, Any] | None] = []

    def add(self, entry: Any, *, plain: bool = False) -> None:
        """A served answer (a tuple, see ``served``), served bodies, a record or a record
        dict; raises ValueError (or TypeError) for one that cannot be logged, adding
        nothing."""
        if type(entry) is ServedBodies:
            self.add_served(entry.model, entry.version, entry.deployment, entry.variant,
                            entry.request_id, entry.body, entry.response, entry.seconds,
                            entry.time)
            return
        records = expand(entry, plain=plain) if is_answer(entry) else [normalise_record(entry)]
        rows = [log_row(r) for r in records]
        self.rows.extend(rows)
        self._values.extend((r.inputs, r.outputs) for r in records)

    def add_wire(self, buffer: bytes | bytearray, keys: list[Any]) -> int:
        """The answers of a writer-process buffer (see ``served.unpack``); ``keys`` names
        each key's (model, version, deployment, variant). Returns how many answers were
        rejected (each alone)."""
        rejected = 0
        for key, rid, body, response, seconds, at in unpack(buffer):
            try:
                if key == GENERAL:
                    entry = orjson.loads(body)
                    self.add(tuple(entry) if type(entry) is list else entry, plain=True)
                else:
                    model, version, deployment, variant = keys[key]
                    self.add_served(model, version, deployment, variant, rid, body, response,
                                    seconds, at)
            except Exception:  # one odd answer is rejected, never the whole batch
                rejected += 1
        return rejected

    def add_served(self, model: str, version: int, deployment: str | None,
                   variant: str | None, request_id: str, body: bytes, response: bytes,
                   seconds: float, at: float) -> None:
        """The rows of one answered request: ``body`` the request's JSON (a record, a list
        of records or a dict of columns), ``response`` the answer's JSON (an object with
        ``predictions`` and optionally ``probabilities``, one per row). Raises ValueError
        when they do not fit together (the caller rejects this request alone)."""
        answer = orjson.loads(response)
        preds = answer.get("predictions") if type(answer) is dict else None
        if type(preds) is not list:
            raise ValueError("the response has no list of predictions")
        probas = answer.get("probabilities")
        if probas is not None and (type(probas) is not list or len(probas) != len(preds)):
            raise ValueError("the response's probabilities do not match its predictions")
        if _one_record(body):
            inputs: list[str] = [body.decode()]
        else:
            inputs = [orjson.dumps(r).decode() for r in request_rows(body)]
        if len(inputs) != len(preds):
            raise ValueError(f"{len(inputs)} row(s) in the request, {len(preds)} prediction(s)")
        rid = request_id[:128]
        latency = float(seconds) if math.isfinite(seconds) else None
        ts = int(at * 1000)
        version = int(version or 0)
        dumps = orjson.dumps
        for i, text in enumerate(inputs):
            outputs = ({"prediction": preds[i]} if probas is None
                       else {"prediction": preds[i], "probabilities": probas[i]})
            self.rows.append(LogRow(model, version, deployment, variant, rid, i, ts, text,
                                    dumps(outputs).decode(), latency, False, "ok", None))
            self._values.append(None)

    def values(self, index: int) -> tuple[Any, Any]:
        """The inputs and outputs of row ``index`` as values (parsed from the text when
        the batch kept only that)."""
        kept = self._values[index]
        if kept is not None:
            return kept
        row = self.rows[index]
        return (None if row.inputs is None else orjson.loads(row.inputs),
                None if row.outputs is None else orjson.loads(row.outputs))
