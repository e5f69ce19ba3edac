"""The prediction log: records written off the request path, in batches.

:class:`PredictionLogger` is what a serving process holds. ``log(record)`` appends to a
bounded in-memory queue and returns at once (about a microsecond): when the queue is
full the record is dropped and counted (per model and version), never blocking the
request; it never raises. A background thread drains the queue in batches of up to
``batch_size`` (or every ``flush_interval_s``) and hands each batch, with the drops
counted since the last batch, to a :class:`PredictionSink`. A failing sink (database
down) is retried with backoff while the queue keeps absorbing records up to its bound.

The sink of :class:`~modelplane.monitoring.service.MonitoringService` inserts the rows in
one ``executemany``, adds the batch to the health buckets and to the binned drift counts,
in one transaction.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = ["LoggerStats", "PredictionLogger", "PredictionRecord", "PredictionSink", "jsonable",
           "normalise_record"]

log = logging.getLogger("modelplane.monitoring")

STATUSES = ("ok", "error")
_INT32_MAX = 2**31 - 1  # the columns' integer


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


class PredictionSink(Protocol):
    """Where batches go. ``write`` gets records as logged (records or dicts) and the
    drops per (model, version) since the last call; it returns how many records it
    rejected as invalid (they are counted, not retried) and raises to have the batch
    retried."""

    def write(self, records: list[Any], dropped: dict[tuple[str, int], int]) -> int: ...


@dataclass
class LoggerStats:
    queued: int
    accepted: int
    written: int
    dropped: int
    rejected: int
    failed: int
    retrying: bool

    def to_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.__dict__.items()}


def wait_for(idle: threading.Condition, wake: threading.Event, done: Callable[[], bool],
             timeout: float | None) -> bool:
    """Wake a log's thread until ``done()`` (checked under ``idle``, which the thread
    notifies after each batch); False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with idle:
        while not done():
            wake.set()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            idle.wait(0.05 if remaining is None else min(remaining, 0.05))
    return True


def _key(record: Any) -> tuple[str, int]:
    if type(record) is tuple:  # a served answer (see ``served``): model, version first
        model, version = record[0], record[1]
    elif isinstance(record, Mapping):
        model, version = record.get("model"), record.get("version")
    else:
        model, version = getattr(record, "model", None), getattr(record, "version", None)
    return str(model), int(version) if isinstance(version, int) else 0


class PredictionLogger:
    """Non-blocking, bounded, batched prediction log (see the module docstring)."""

    def __init__(self, sink: PredictionSink, *, capacity: int = 100_000,
                 batch_size: int = 1000, flush_interval_s: float = 0.5,
                 max_backoff_s: float = 5.0, name: str = "modelplane-prediction-log") -> None:
        if capacity < 1 or batch_size < 1:
            raise ValueError("capacity and batch_size must be at least 1")
        self._sink = sink
        self._capacity = capacity
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._max_backoff = max_backoff_s
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._drop_lock = threading.Lock()
        self._drops: dict[tuple[str, int], int] = {}
        self._accepted = self._written = self._dropped = self._rejected = self._failed = 0
        self._inflight = 0
        self._retrying = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the request path --------------------------------------------------------------
    def log(self, record: PredictionRecord | Mapping[str, Any]) -> bool:
        """Queue ``record``; False when it was dropped (queue full or logger closed)."""
        try:
            if self._closed or len(self._queue) >= self._capacity:
                self._drop(record)
                return False
            self._queue.append(record)
            self._accepted += 1  # approximate under threads; exact counts are written/dropped
            if len(self._queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()  # (set() takes a lock: not on every call while it waits)
            return True
        except Exception:  # never into the caller
            return False

    def log_many(self, records: Iterable[PredictionRecord | Mapping[str, Any]]) -> int:
        """Queue every record; returns how many were accepted."""
        return sum(self.log(r) for r in records)

    def _drop(self, record: Any) -> None:
        key = _key(record)
        with self._drop_lock:
            self._dropped += 1
            self._drops[key] = self._drops.get(key, 0) + 1

    # -- control -----------------------------------------------------------------------
    def stats(self) -> LoggerStats:
        return LoggerStats(queued=len(self._queue), accepted=self._accepted,
                           written=self._written, dropped=self._dropped,
                           rejected=self._rejected, failed=self._failed,
                           retrying=self._retrying)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record queued before the call is written (or failed);
        False on timeout."""
        return wait_for(self._idle, self._wake, lambda: not (self._queue or self._inflight),
                        timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, write what is queued (one last try for a failing sink) and
        stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout)

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the writer thread -------------------------------------------------------------
    def _take(self) -> list[Any]:
        batch = []
        queue = self._queue
        for _ in range(min(self._batch_size, len(queue))):
            batch.append(queue.popleft())
        return batch

    def _take_drops(self) -> dict[tuple[str, int], int]:
        with self._drop_lock:
            drops, self._drops = self._drops, {}
        return drops

    def _run(self) -> None:
        backoff = 0.0
        while True:
            if not self._queue and not self._drops:
                if self._closed:
                    break
                self._wake.wait(self._interval)
                self._wake.clear()
            with self._idle:
                batch = self._take()
                self._inflight = len(batch)
            drops = self._take_drops()
            while batch or drops:
                ok = self._write(batch, drops)
                if ok:
                    backoff = 0.0
                    break
                if self._closed:
                    self._failed += len(batch)
                    break
                backoff = min(max(backoff * 2, 0.1), self._max_backoff)
                self._retrying = True
                self._wake.wait(backoff)
                self._wake.clear()
            self._retrying = False
            with self._idle:
                self._inflight = 0
                self._idle.notify_all()

    def _write(self, batch: list[Any], drops: dict[tuple[str, int], int]) -> bool:
        try:
            rejected = self._sink.write(batch, drops)
        except Exception as exc:
            log.warning("prediction log: writing %d record(s) failed (%s); retrying",
                        len(batch), exc)
            return False
        self._rejected += int(rejected or 0)
        self._written += len(batch) - int(rejected or 0)
        return True


# -- normalisation (used by sinks) ----------------------------------------------------------


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


#: How far ahead of this clock a record's time may be (another host's clock skew).
MAX_FUTURE_SECONDS = 86_400.0


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
