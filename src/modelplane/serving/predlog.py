"""Every served prediction goes to monitoring's prediction log, off the request path.

``ServingLog.log`` runs after the answer is sent and does as little as it can there: it
appends one served answer (see :mod:`modelplane.monitoring.predlog.served`) to the
non-blocking :class:`~modelplane.monitoring.predlog.logger.PredictionLogger`, whose bounded queue
counts what it has to drop. Splitting the request into rows, JSON, SQL and the drift
counts happen in the writer process (:mod:`~modelplane.monitoring.predlog.wire`),
so they never compete with the event loop for the interpreter; with
``MODELPLANE_PREDICTION_LOG_PROCESS=false`` they run on the logger's thread instead.
``MODELPLANE_PREDICTION_LOG=false`` turns the log off. ``log`` never raises.
With the writer process a JSON request and its JSON answer are appended to one buffer as
they are, and any other answer is encoded at once
(:class:`~modelplane.monitoring.predlog.process.ProcessLogger`): nothing per request stays alive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelplane.monitoring.predlog.served import answer

if TYPE_CHECKING:
    from modelplane.core.config import Settings
    from modelplane.monitoring.predlog.logger import PredictionLogger
    from modelplane.monitoring.service import MonitoringService

__all__ = ["ServingLog"]

log = logging.getLogger("modelplane.serving")


class ServingLog:
    """The prediction log of one server process: rows go to ``monitoring()``'s store
    (built on first use), through a writer process started with ``settings`` when
    ``process`` is set (the logger and the process are created on first use)."""

    def __init__(self, monitoring: Callable[[], MonitoringService] | None,
                 settings: Settings | None, *, enabled: bool = True,
                 process: bool = True) -> None:
        self.monitoring = monitoring
        self.settings = settings
        self.enabled = enabled and monitoring is not None
        self.process = process
        self._logger: PredictionLogger | None = None

    @classmethod
    def off(cls) -> ServingLog:
        """A log that records nothing (a runtime without monitoring)."""
        return cls(None, None, enabled=False)

    @property
    def logger(self) -> PredictionLogger:
        if self._logger is None:
            if self.monitoring is None:
                raise RuntimeError("this prediction log is off: it has no monitoring")
            monitoring = self.monitoring()
            settings = self.settings
            if self.process and settings is not None:
                from modelplane.monitoring.predlog.process import ProcessLogger
                from modelplane.monitoring.predlog.wire import ProcessSink

                def make() -> PredictionLogger:
                    return ProcessLogger(ProcessSink(
                        settings, generation=lambda: monitoring.reference_generation))

                self._logger = monitoring.install_logger(make)
            else:
                self._logger = monitoring.logger()
        return self._logger

    def start(self) -> None:
        """Create the logger now and start its writer process in the background, so the
        first requests do not pay for it (otherwise both happen on first use)."""
        try:
            self.logger.start()
        except Exception:
            log.warning("prediction log: could not start the writer", exc_info=True)

    def log(self, model: str, version: int, request_id: str, data: Any, result: Any,
            seconds: float, *, error: str | None = None, deployment: str | None = None,
            variant: str | None = None, force: bool = False, raw: bytes | None = None,
            response: bytes | None = None) -> None:
        """Log one answered (or failed) request; ``raw`` is the request's JSON body when
        the model saw exactly that (it is then logged as is, not re-encoded), and
        ``response`` the answer's JSON body (with ``raw``, the writer process reads the
        predictions from it: nothing is encoded here); ``force`` logs even when
        disabled (a canary whose gates need the log)."""
        if not (self.enabled or force):
            return
        try:
            logger = self.logger
            if raw is not None and response is not None and error is None:
                # the two bodies as they are: nothing is encoded on the request path
                logger.log_served(model, version, request_id, raw, response, seconds,
                                  deployment, variant)
                return
            logger.log(answer(model, version, request_id, data if raw is None else raw,
                              result, seconds, error, deployment, variant))
        except Exception:  # the log never fails a request
            log.debug("prediction log: could not log an answer", exc_info=True)

    def flush(self, timeout: float = 5.0) -> None:
        if self._logger is not None:
            self._logger.flush(timeout)
