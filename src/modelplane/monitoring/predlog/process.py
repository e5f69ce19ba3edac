"""The serving process's side of the prediction log when a writer process writes it.

:class:`ProcessLogger` is a :class:`~modelplane.monitoring.predlog.logger.PredictionLogger`
that keeps nothing per request: ``log_served`` appends the request's and the
answer's JSON bodies as they are behind a fixed binary header (see ``served.SERVED``),
and ``log`` encodes any other answer to JSON at once; both append to one buffer.
Keeping a thousand answers alive as Python objects until a thread serialised them cost
the server several percent of its throughput in allocator and cache traffic; a flat
buffer does not. A thread hands each buffer to the writer process
(:class:`~modelplane.monitoring.predlog.wire.ProcessSink`) with the GIL released while it
waits, and retries with backoff when the writer fails. The buffer is bounded (answers and
bytes): past the bound an answer is dropped and counted per model and version, never
blocking the request.
"""

from __future__ import annotations

import logging
import threading
import time
from time import time as _now
from typing import Any

from modelplane.monitoring.predlog.logger import LogEntry, LoggerStats, wait_for
from modelplane.monitoring.predlog.records import record_key
from modelplane.monitoring.predlog.served import GENERAL, SERVED, ServedBodies
from modelplane.monitoring.predlog.wire import ProcessSink, dumps

__all__ = ["ProcessLogger"]

log = logging.getLogger("modelplane.monitoring")


class ProcessLogger:
    """See the module docstring. ``sink`` is the writer process's handle."""

    def __init__(self, sink: ProcessSink, *, capacity: int = 100_000,
                 max_bytes: int = 128 << 20, batch_size: int = 2000,
                 flush_interval_s: float = 0.25, max_backoff_s: float = 5.0) -> None:
        self.sink = sink
        self._capacity, self._max_bytes = capacity, max_bytes
        self._batch_size, self._interval = batch_size, flush_interval_s
        self._max_backoff = max_backoff_s
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._count = 0  # answers in the buffer
        # (model, version, deployment, variant) -> the key served answers carry
        self._keys: dict[tuple[Any, ...], int] = {}
        self._names: list[list[Any]] = []
        self._drops: dict[tuple[str, int], int] = {}
        self._logged = self._done = 0  # answers accepted; answers handed over (or failed)
        self._written = self._dropped = self._rejected = self._failed = 0
        self._retrying = self._closed = False
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="modelplane-prediction-log",
                                        daemon=True)
        self._thread.start()

    # -- the request path --------------------------------------------------------------
    def log_served(self, model: str, version: int, request_id: str, body: bytes,
                   response: bytes, seconds: float, deployment: str | None = None,
                   variant: str | None = None) -> bool:
        """Queue an answered request whose JSON ``body`` the model saw as sent and whose
        answer is the JSON ``response`` (an object with ``predictions``): both are kept
        as they are, nothing is encoded. False when dropped."""
        key = self._keys.get((model, version, deployment, variant))
        if key is None:
            key = self._new_key(model, version, deployment, variant)
            if key is None:  # more names than a key holds: the general path
                return self.log((model, version, request_id, body, None, None, seconds,
                                 None, deployment, variant, _now()))
        rid = request_id.encode()
        head = SERVED.pack(key, len(rid), len(body), len(response), seconds, _now())
        # the append is written out here rather than shared with ``log``: a helper call
        # cost this path a quarter of its time (0.4-0.9 us per request on a slow core)
        with self._lock:
            if (self._closed or self._count >= self._capacity or len(self._buffer)
                    + len(head) + len(rid) + len(body) + len(response) > self._max_bytes):
                self._drop((model, version))
                return False
            buffer = self._buffer
            buffer += head
            buffer += rid
            buffer += body
            buffer += response
            self._count += 1
            self._logged += 1
            full = self._count >= self._batch_size
        if full and not self._wake.is_set():
            self._wake.set()
        return True

    def log(self, record: LogEntry) -> bool:
        """Queue ``record`` (a served answer tuple, served bodies, or a record or its
        dict); False when dropped."""
        if type(record) is ServedBodies:
            return self.log_served(record.model, record.version, record.request_id,
                                   record.body, record.response, record.seconds,
                                   record.deployment, record.variant)
        try:
            data = dumps(record)
        except Exception:  # not encodable: counted as rejected, never raised
            self._rejected += 1
            return False
        with self._lock:
            if (self._closed or self._count >= self._capacity
                    or len(self._buffer) + SERVED.size + len(data) > self._max_bytes):
                self._drop(record_key(record))
                return False
            self._buffer += SERVED.pack(GENERAL, 0, len(data), 0, 0.0, 0.0)
            self._buffer += data
            self._count += 1
            self._logged += 1
            full = self._count >= self._batch_size
        if full and not self._wake.is_set():
            self._wake.set()
        return True

    def _drop(self, key: tuple[str, int]) -> None:  # under the lock
        self._drops[key] = self._drops.get(key, 0) + 1
        self._dropped += 1

    def _new_key(self, model: str, version: int, deployment: str | None,
                 variant: str | None) -> int | None:
        with self._lock:
            names = (model, version, deployment, variant)
            key = self._keys.get(names)
            if key is None and len(self._names) < GENERAL:
                key = self._keys[names] = len(self._names)
                self._names.append([model, version, deployment, variant])
            return key

    # -- control -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer process in the background (the first batch starts it
        otherwise); never raises."""
        threading.Thread(target=self.sink.start, name="modelplane-log-writer-start",
                         daemon=True).start()

    def stats(self) -> LoggerStats:
        return LoggerStats(queued=self._count, accepted=self._logged, written=self._written,
                           dropped=self._dropped, rejected=self._rejected,
                           failed=self._failed, retrying=self._retrying)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every answer logged before the call is written (or failed)."""
        target = self._logged
        return wait_for(self._idle, self._wake, lambda: self._done >= target, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, hand over what is buffered (one last try), stop the thread
        and let the writer process finish and leave."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        self.sink.close(timeout)

    # -- the thread --------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.0
        while True:
            if self._count < self._batch_size and not self._closed:
                # a full batch, a flush or the interval, whichever comes first: sending
                # whatever piled up during the last send would make batches small, and
                # each batch has a fixed cost in both processes
                self._wake.wait(self._interval)
                self._wake.clear()
            if not self._count and not self._drops:
                if self._closed:
                    break
                continue
            with self._lock:
                buffer, count, upto = self._buffer, self._count, self._logged
                self._buffer, self._count = bytearray(), 0
                drops, self._drops = self._drops, {}
                names = list(self._names)
            while True:
                try:
                    rejected = self.sink.write(buffer, count, drops, names)
                except Exception as exc:
                    if self._closed:
                        self._failed += count
                        break
                    log.warning("prediction log: writing %d answer(s) failed (%s); retrying",
                                count, exc)
                    backoff = min(max(backoff * 2, 0.1), self._max_backoff)
                    self._retrying = True
                    time.sleep(backoff)
                    continue
                backoff = 0.0
                self._rejected += rejected
                self._written += count - rejected
                break
            self._retrying = False
            with self._idle:
                self._done = upto
                self._idle.notify_all()
