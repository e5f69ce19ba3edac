"""``CircuitBreaker``: fail fast while a backend is known down, and keep one backend's
waiters from taking every worker thread (a bulkhead).

A store wraps each call to its backend in :meth:`CircuitBreaker.guard`:

- **closed** (normal): calls go through; ``failure_threshold`` failures in a row (a
  timeout, a refused connection) open the circuit.
- **open**: every call fails at once with a 503 :class:`StorageUnavailableError` naming
  the backend, for ``reset_seconds``; then the circuit is **half-open**.
- **half-open**: one trial call goes through (the others still fail at once); its success
  closes the circuit, its failure opens it again.

The bulkhead: at most ``max_in_flight`` calls wait on the backend at once (keep it below
the server's worker threads, 40, so other routes always find one); a call beyond that
fails with a 503, at once when the calls in flight are slow, else after waiting up to a
quarter of ``stall_seconds`` for a slot. And when ``max_waiting``
calls have each been waiting longer than ``stall_seconds``, the backend is stalled and a
new call fails at once instead of parking one more thread on it. A healthy backend under
heavy load trips neither (its calls finish in far less than ``stall_seconds``). No I/O
here; clocks are monotonic.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from modelplane.core.errors import StorageUnavailableError

__all__ = ["CircuitBreaker"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def _unavailable_error(exc: BaseException) -> bool:
    return isinstance(exc, StorageUnavailableError)


class CircuitBreaker:
    """One backend's breaker and bulkhead (thread-safe; share one per backend)."""

    def __init__(self, backend: str, *, failure_threshold: int = 3, reset_seconds: float = 5.0,
                 max_in_flight: int = 32, max_waiting: int = 8,
                 stall_seconds: float = 1.0) -> None:
        self.backend = backend
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.max_in_flight = max_in_flight
        self.max_waiting = max_waiting
        self.stall_seconds = stall_seconds
        self._lock = threading.Lock()
        self._slot_freed = threading.Condition(self._lock)
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial = False  # a half-open trial call is in flight
        self._last_error = ""
        self._rejected = 0
        self._in_flight: dict[int, float] = {}
        self._tokens = itertools.count()

    @property
    def state(self) -> str:
        with self._lock:
            return self._current_state(time.monotonic())

    def _current_state(self, now: float) -> str:
        if self._state == OPEN and now - self._opened_at >= self.reset_seconds:
            self._state, self._trial = HALF_OPEN, False
        return self._state

    def _unavailable(self, why: str) -> StorageUnavailableError:
        self._rejected += 1
        return StorageUnavailableError(
            f"{self.backend} is unavailable: {why}",
            details={"backend": self.backend, "circuit": self._state,
                     "last_error": self._last_error})

    def _admit(self) -> tuple[int, bool]:
        """A token for a call allowed through, and whether it is the half-open trial."""
        now = time.monotonic()
        with self._lock:
            state = self._current_state(now)
            if state == OPEN:
                left = self.reset_seconds - (now - self._opened_at)
                raise self._unavailable(f"failing fast for {left:.1f} s more after "
                                        f"{self.failure_threshold} failures in a row "
                                        f"({self._last_error})")
            trial = False
            if state == HALF_OPEN:
                if self._trial:
                    raise self._unavailable(f"a trial call is checking whether it is back "
                                            f"({self._last_error})")
                self._trial = trial = True
            elif len(self._in_flight) >= self.max_waiting:
                stalled = sum(now - t > self.stall_seconds for t in self._in_flight.values())
                if stalled >= self.max_waiting:
                    raise self._unavailable(f"{stalled} calls have been waiting on it for "
                                            f"more than {self.stall_seconds:g} s")
                if len(self._in_flight) >= self.max_in_flight and not self._slot_soon(now):
                    raise self._unavailable(f"{len(self._in_flight)} calls are waiting on it")
                now = time.monotonic()
            token = next(self._tokens)
            self._in_flight[token] = now
            return token, trial

    def _slot_soon(self, now: float) -> bool:
        """At the cap: wait briefly for a slot, unless the calls in flight are already slow
        (then the caller's thread is worth more to other routes than to this queue)."""
        brief = self.stall_seconds / 4
        if now - min(self._in_flight.values()) > brief:
            return False
        return self._slot_freed.wait_for(lambda: len(self._in_flight) < self.max_in_flight,
                                         brief)

    def _done(self, token: int, trial: bool, error: BaseException | None) -> None:
        with self._lock:
            self._in_flight.pop(token, None)
            self._slot_freed.notify()
            if trial:
                self._trial = False
            if error is None:
                self._failures = 0
                self._state = CLOSED
                return
            self._failures += 1
            self._last_error = (str(getattr(error, "message", error)).splitlines() or [""])[0]
            if trial or self._failures >= self.failure_threshold:
                self._state, self._opened_at = OPEN, time.monotonic()

    @contextmanager
    def guard(self, is_failure: Callable[[BaseException], bool] = _unavailable_error
              ) -> Iterator[None]:
        """Run the block as one call to the backend. An exception ``is_failure`` accepts
        (by default a :class:`StorageUnavailableError`) counts against the backend; any
        other (a constraint, a missing row) is an answer, so it counts as a success."""
        token, trial = self._admit()
        try:
            yield
        except BaseException as exc:
            self._done(token, trial, exc if is_failure(exc) else None)
            raise
        self._done(token, trial, None)

    def snapshot(self) -> dict[str, Any]:
        """State for ``/api/v1/health``."""
        now = time.monotonic()
        with self._lock:
            state = self._current_state(now)
            oldest = now - min(self._in_flight.values()) if self._in_flight else 0.0
            return {"backend": self.backend, "state": state,
                    "consecutive_failures": self._failures, "in_flight": len(self._in_flight),
                    "oldest_call_seconds": round(oldest, 3), "rejected": self._rejected,
                    "last_error": self._last_error or None}
