"""``ActiveRun``: the client-side handle of a running run, with buffered metric logging.

``log_metric`` validates at the call (so a bad key fails where it was written) and
appends to an in-memory buffer. The buffer is written in one transaction:

- when it holds ``max_buffer`` points,
- on a short timer (``flush_interval``, by a background thread shared by all runs),
- soon after the step advances (the thread is woken),
- on ``flush()``, at ``end()`` / the end of the ``with`` block (also on an exception),
- and at interpreter exit, for runs still open.

``synchronous=True`` writes every call before returning. Nothing logged is lost when
the run ends normally or with an exception; a failed background write keeps the points
and retries.

The same thread sends the run's heartbeat (see ``tracking.heartbeat``), and once per
process marks failed the runs whose heartbeat stopped (their process died).
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelplane.core.timeutil import as_utc, to_epoch_ms
from modelplane.tracking.entities import Run, RunArtifact
from modelplane.tracking.service import check_key, metric_value

if TYPE_CHECKING:
    from modelplane.tracking.entities import DatasetRecord
    from modelplane.tracking.service import TrackingService

__all__ = ["ActiveRun"]

log = logging.getLogger("modelplane.tracking")
FLUSH_INTERVAL = 0.5
MAX_BUFFER = 5000


class ActiveRun:
    def __init__(self, service: TrackingService, run: Run, *, synchronous: bool = False,
                 max_buffer: int = MAX_BUFFER,
                 model_logger: Callable[..., Any] | None = None,
                 on_end: Callable[[ActiveRun], None] | None = None) -> None:
        self.service = service
        self.info = run
        self.id = run.id
        self.synchronous = synchronous
        self.max_buffer = max_buffer
        self._model_logger = model_logger
        self._on_end = on_end
        self._buffer: list[tuple[str, str, float, int, int]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._keys: set[str] = set()
        self._last_step = 0
        self._ended = False
        from modelplane.core.config import get_settings

        settings = get_settings()
        self._beat_every, self._stale_after = (settings.run_heartbeat_seconds,
                                               settings.run_stale_seconds)
        self.beat()  # at once: a process killed right after start is still detected
        _flusher.register(self)

    # -- metrics -----------------------------------------------------------------------
    def log_metric(self, key: str, value: float, step: int | None = None,
                   timestamp: datetime | None = None) -> None:
        if key not in self._keys:
            self._keys.add(check_key("metric", key))
        if type(value) is not float:
            value = metric_value(key, value)
        step = self._last_step if step is None else step
        if type(step) is not int:
            raise _bad_step(step)
        ms = to_epoch_ms(as_utc(timestamp)) if timestamp else int(time.time() * 1000)
        point = (self.id, key, value, step, ms)
        with self._lock:
            self._buffer.append(point)
            size = len(self._buffer)
            advanced = step > self._last_step
            self._last_step = max(step, self._last_step)
        if self.synchronous or size >= self.max_buffer:
            self.flush()
        elif advanced:
            _flusher.wake()

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None,
                    timestamp: datetime | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step, timestamp)

    def flush(self) -> None:
        """Write buffered metrics now (one transaction)."""
        with self._write_lock:
            with self._lock:
                rows, self._buffer = self._buffer, []
            if not rows:
                return
            try:
                self.service.store.log_metric_rows(rows)
            except BaseException:
                with self._lock:
                    self._buffer[:0] = rows  # keep them, in order, for the next try
                raise

    def beat(self) -> None:
        """Tell the store this run's process is alive."""
        self._beat_at = time.monotonic()
        try:
            self.service.heartbeat([self.id])
        except Exception as exc:  # a missed beat is retried; the run goes on
            log.warning("could not send the heartbeat of run %s: %s", self.id, exc)

    # -- params, tags, batches ---------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.service.log_params(self.id, {key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.service.log_params(self.id, params)

    def set_tag(self, key: str, value: Any) -> None:
        self.service.set_tags(self.id, {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.service.set_tags(self.id, tags)

    def log_batch(self, metrics: Any = (), params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        """Write metrics, params and tags now, all or nothing (pending metrics first)."""
        self.flush()
        self.service.log_batch(self.id, metrics, params, tags)

    # -- artifacts, datasets, models ---------------------------------------------------
    def log_artifact(self, local_path: Any, artifact_path: str | None = None) -> RunArtifact:
        return self.service.log_artifact(self.id, local_path, artifact_path)

    def log_artifacts(self, local_dir: Any, artifact_path: str | None = None) -> RunArtifact:
        return self.service.log_artifact(self.id, local_dir, artifact_path)

    def log_dataset(self, data: Any, *, name: str | None = None,
                    role: str = "train") -> DatasetRecord:
        return self.service.log_dataset(self.id, data, name=name, role=role)

    def log_model(self, model: Any, name: str, **kwargs: Any) -> Any:
        """Save ``model`` with its flavor and register it as a new version of ``name``."""
        if self._model_logger is None:
            raise RuntimeError("this run was not started through a modelplane Client")
        self.flush()
        return self._model_logger(self.id, model, name, **kwargs)

    # -- lifecycle ---------------------------------------------------------------------
    def end(self, status: str = "finished") -> Run:
        """Flush, then mark the run ``finished``, ``failed`` or ``killed``."""
        if self._ended:
            return self.info
        try:
            self.flush()
        finally:
            self._ended = True
            _flusher.unregister(self)
            self.info = self.service.end_run(self.id, status)
            if self._on_end is not None:
                self._on_end(self)
        return self.info

    @property
    def ended(self) -> bool:
        return self._ended

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.end("finished")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("killed")
        else:
            self.end("failed")

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} {self.info.name!r}>"


def _bad_step(step: Any) -> Exception:
    from modelplane.core.errors import InvalidArgumentError

    return InvalidArgumentError(f"step must be an integer, got {step!r}",
                                details={"field": "step"})


class _Flusher:
    """One daemon thread flushing every open run's buffer on a short timer."""

    def __init__(self) -> None:
        self._runs: weakref.WeakSet[ActiveRun] = weakref.WeakSet()
        self._swept: weakref.WeakSet[Any] = weakref.WeakSet()  # services swept for stale runs
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def register(self, run: ActiveRun) -> None:
        with self._lock:
            self._runs.add(run)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="modelplane-flush",
                                                daemon=True)
                self._thread.start()

    def unregister(self, run: ActiveRun) -> None:
        with self._lock:
            self._runs.discard(run)

    def wake(self) -> None:
        self._wake.set()

    def open_runs(self) -> list[ActiveRun]:
        with self._lock:
            return list(self._runs)

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            for run in self.open_runs():
                try:
                    run.flush()
                except Exception as exc:  # kept in the buffer; retried next tick
                    log.warning("could not write metrics of run %s yet: %s", run.id, exc)
                if time.monotonic() - run._beat_at >= run._beat_every:
                    run.beat()
                self._sweep(run)

    def _sweep(self, run: ActiveRun) -> None:
        """Once per tracking service in this process: fail runs whose heartbeat stopped."""
        if run.service in self._swept:
            return
        self._swept.add(run.service)
        try:
            failed = run.service.store.fail_stale_heartbeats(run._stale_after)
            if failed:
                log.warning("marked %d run(s) failed: their heartbeat stopped", len(failed))
        except Exception as exc:
            log.warning("could not check for runs whose process died: %s", exc)


_flusher = _Flusher()


_crashed = False
_previous_excepthook = sys.excepthook


def _excepthook(exc_type: type[BaseException], exc: BaseException,
                tb: TracebackType | None) -> None:
    global _crashed
    _crashed = True
    _previous_excepthook(exc_type, exc, tb)


sys.excepthook = _excepthook


@atexit.register
def _close_open_runs() -> None:
    """At exit, write what is buffered and end runs still open: ``failed`` when the
    interpreter is exiting on an uncaught exception, ``finished`` otherwise."""
    status = "failed" if _crashed else "finished"
    for run in _flusher.open_runs():
        try:
            run.end(status)
        except Exception as exc:
            log.error("could not close run %s at exit: %s", run.id, exc)
