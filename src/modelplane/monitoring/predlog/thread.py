"""The prediction log written on a thread of this process, in batches.

:class:`ThreadLogger` is what ``client.monitoring.logger()`` returns (and what a server
uses with ``MODELPLANE_PREDICTION_LOG_PROCESS=false``). ``log(entry)`` appends to a
bounded in-memory queue and returns at once (about a microsecond): when the queue is
full the entry is dropped and counted (per model and version), never blocking the
request; it never raises. A background thread drains the queue in batches of up to
``batch_size`` (or every ``flush_interval_s``) and hands each batch, with the drops
counted since the last batch, to a :class:`~modelplane.monitoring.predlog.logger.
PredictionSink`. A failing sink (database down) is retried with backoff while the queue
keeps absorbing entries up to its bound.

The sink of :class:`~modelplane.monitoring.service.MonitoringService` inserts the rows in
one ``executemany``, adds the batch to the health buckets and to the binned drift counts,
in one transaction.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from time import time as _now
from typing import Any

from modelplane.monitoring.predlog.logger import LogEntry, LoggerStats, PredictionSink, wait_for
from modelplane.monitoring.predlog.records import record_key
from modelplane.monitoring.predlog.served import ServedBodies

__all__ = ["ThreadLogger"]

log = logging.getLogger("modelplane.monitoring")


class ThreadLogger:
    """Non-blocking, bounded, batched prediction log written on a thread (see the module
    docstring); a :class:`~modelplane.monitoring.predlog.logger.PredictionLogger`."""

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
        self._queue: deque[LogEntry] = deque()
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
    def log(self, record: LogEntry) -> bool:
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

    def log_served(self, model: str, version: int, request_id: str, body: bytes,
                   response: bytes, seconds: float, deployment: str | None = None,
                   variant: str | None = None) -> bool:
        """Queue the JSON bodies of an answered request as they are (split into rows on
        the writer thread)."""
        return self.log(ServedBodies(model, version, deployment, variant, request_id, body,
                                     response, seconds, _now()))

    def log_many(self, records: Iterable[LogEntry]) -> int:
        """Queue every record; returns how many were accepted."""
        return sum(self.log(r) for r in records)

    def _drop(self, record: LogEntry) -> None:
        key = record_key(record)
        with self._drop_lock:
            self._dropped += 1
            self._drops[key] = self._drops.get(key, 0) + 1

    # -- control -----------------------------------------------------------------------
    def start(self) -> None:
        """Nothing to start: the writer thread runs from construction."""

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

    def __enter__(self) -> ThreadLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the writer thread -------------------------------------------------------------
    def _take(self) -> list[LogEntry]:
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

    def _write(self, batch: list[LogEntry], drops: dict[tuple[str, int], int]) -> bool:
        try:
            rejected = self._sink.write(batch, drops)
        except Exception as exc:
            log.warning("prediction log: writing %d record(s) failed (%s); retrying",
                        len(batch), exc)
            return False
        self._rejected += int(rejected or 0)
        self._written += len(batch) - int(rejected or 0)
        return True


