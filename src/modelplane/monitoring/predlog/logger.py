"""What a serving process holds to log predictions: the :class:`PredictionLogger` protocol.

Two loggers implement it: :class:`~modelplane.monitoring.predlog.thread.ThreadLogger`
queues entries and writes them on a thread of this process, through a
:class:`PredictionSink` (the monitoring service); :class:`~modelplane.monitoring.predlog.
process.ProcessLogger` appends them to a flat buffer that a writer process writes (what a
server uses). Both are non-blocking and bounded: past the bound an entry is dropped and
counted per model and version, never blocking the request, and neither ever raises into
the caller.

An entry is a :class:`~modelplane.monitoring.predlog.records.PredictionRecord` (or a dict
of its fields), a served answer (``served.answer``), or, through ``log_served``, a JSON
request body and its JSON answer as they are (:class:`~modelplane.monitoring.predlog.
served.ServedBodies`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from modelplane.monitoring.predlog.records import PredictionRecord
from modelplane.monitoring.predlog.served import ServedBodies

__all__ = ["LogEntry", "LoggerStats", "PredictionLogger", "PredictionSink", "wait_for"]

# a record, a record's dict, a served answer tuple (``served.FIELDS``) or served bodies
LogEntry: TypeAlias = PredictionRecord | Mapping[str, Any] | tuple[Any, ...] | ServedBodies


@dataclass
class LoggerStats:
    """A logger's counters since it started."""

    queued: int
    accepted: int
    written: int
    dropped: int
    rejected: int
    failed: int
    retrying: bool

    def to_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.__dict__.items()}


class PredictionLogger(Protocol):
    """A non-blocking, bounded prediction log (see the module docstring)."""

    def log(self, entry: LogEntry) -> bool:
        """Queue one entry; False when it was dropped (full, closed, or not encodable)."""

    def log_served(self, model: str, version: int, request_id: str, body: bytes,
                   response: bytes, seconds: float, deployment: str | None = None,
                   variant: str | None = None) -> bool:
        """Queue an answered request whose JSON ``body`` the model saw as sent and whose
        answer is the JSON ``response`` (an object with ``predictions``), as they are."""

    def start(self) -> None:
        """Start what writes in the background now, so first requests do not wait for it."""

    def stats(self) -> LoggerStats: ...

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything logged before the call is written (or failed); False on
        timeout."""

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, write what is queued (one last try) and stop."""


class PredictionSink(Protocol):
    """Where a :class:`ThreadLogger <modelplane.monitoring.predlog.thread.ThreadLogger>`'s
    batches go. ``write`` gets entries as logged and the drops per (model, version) since
    the last call; it returns how many entries it rejected as invalid (they are counted,
    not retried) and raises to have the batch retried."""

    def write(self, records: list[LogEntry], dropped: dict[tuple[str, int], int]) -> int: ...


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
