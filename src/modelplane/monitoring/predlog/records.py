"""Prediction records: one predicted row as the Python API logs it, and its checks.

A :class:`PredictionRecord` (or a dict with its fields) is what ``client.log_predictions``
and a thread logger take; :func:`normalise_record` checks one and makes its values plain
JSON (:func:`jsonable`). ``record_key`` names the (model, version) an entry counts under
when it is dropped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["STATUSES", "PredictionRecord", "jsonable", "normalise_record", "record_key"]

STATUSES = ("ok", "error")
_INT32_MAX = 2**31 - 1  # the columns' integer
#: How far ahead of this clock a record's time may be (another host's clock skew).
MAX_FUTURE_SECONDS = 86_400.0


@dataclass(slots=True)
class PredictionRecord:
    """One predicted row. ``time`` is epoch seconds (default: when created); ``inputs``
    a dict of features or a row list (named by the reference's feature order); ``outputs``
    any JSON value; ``row_index`` the row's position in a batch request (labels join on
    request id and row index); ``version`` 0 or None when not a registry version."""

    request_id: str
    model: str
    version: int | None = None
    inputs: Any = None
    outputs: Any = None
    latency_s: float | None = None
    time: float = field(default_factory=time.time)
    deployment: str | None = None
    variant: str | None = None
    cache_hit: bool = False
    status: str = "ok"
    error: str | None = None
    row_index: int = 0


def record_key(record: object) -> tuple[str, int]:
    """The (model, version) an entry is counted under: a served answer (a tuple, model and
    version first), a record dict or a :class:`PredictionRecord`."""
    if type(record) is tuple:
        model, version = record[0], record[1]
    elif isinstance(record, Mapping):
        model, version = record.get("model"), record.get("version")
    elif isinstance(record, PredictionRecord):
        model, version = record.model, record.version
    else:
        model, version = None, None
    return str(model), int(version) if isinstance(version, int) else 0


_PLAIN = frozenset({str, int, bool, type(None)})


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON (numpy values converted, NaN and infinities as None); a
    flat dict of plain finite values is returned as is (the common case, kept cheap)."""
    if type(value) is dict:
        for k, v in value.items():
            t = type(v)
            if (t is float and v - v == 0) or (t in _PLAIN and type(k) is str):
                continue
            return {str(k): jsonable(v) for k, v in value.items()}
        return value
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return jsonable(tolist())
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _time(value: Any) -> float:
    """Epoch seconds of a record's time; a time before 1970 or more than a day ahead
    (an absurd timestamp that would break every window read) raises ValueError."""
    if value is None:
        return time.time()
    try:
        when = value.timestamp() if isinstance(value, datetime) else float(value)
    except (OverflowError, OSError, ValueError, TypeError) as exc:
        raise ValueError(f"time {value!r} is not a valid time") from exc
    if not 0.0 <= when <= time.time() + MAX_FUTURE_SECONDS:
        raise ValueError(f"time {value!r} is out of range: expected 1970-01-01 up to a day "
                         "from now")
    return when


def normalise_record(record: Any) -> PredictionRecord:
    """A checked :class:`PredictionRecord` from a record or a dict; raises ValueError."""
    if isinstance(record, Mapping):
        known = PredictionRecord.__slots__  # type: ignore[attr-defined]
        data = {k: record[k] for k in known if k in record}
        if "time" not in data and "timestamp" in record:
            data["time"] = record["timestamp"]
        record = PredictionRecord(**data)
    elif not isinstance(record, PredictionRecord):
        raise ValueError(f"not a prediction record: {type(record).__name__}")
    if not isinstance(record.request_id, str) or not record.request_id:
        raise ValueError("request_id must be a non-empty string")
    if not isinstance(record.model, str) or not record.model:
        raise ValueError("model must be a non-empty string")
    status = record.status if record.error is None or record.status != "ok" else "error"
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    latency = None if record.latency_s is None else float(record.latency_s)
    version, row_index = int(record.version or 0), int(record.row_index or 0)
    if not (0 <= version <= _INT32_MAX and 0 <= row_index <= _INT32_MAX):
        raise ValueError(f"version and row_index must be from 0 to {_INT32_MAX}")
    return PredictionRecord(
        request_id=record.request_id[:128], model=record.model,
        version=version, inputs=jsonable(record.inputs),
        outputs=jsonable(record.outputs),
        latency_s=latency if latency is None or math.isfinite(latency) else None,
        time=_time(record.time), deployment=record.deployment, variant=record.variant,
        cache_hit=bool(record.cache_hit), status=status,
        error=None if record.error is None else str(record.error),
        row_index=row_index)
