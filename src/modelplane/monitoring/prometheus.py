"""Monitoring figures for Prometheus: drift, label metrics, latency percentiles, error
ratio and dropped log records of each model over a window, as gauges.

Every family is a gauge, since each value is computed over a sliding window and may go
down; names carry their unit and the window is a label (``window="1h"``), so
``promtool check metrics`` accepts them:

==============================================  ======================================
name                                            labels
==============================================  ======================================
modelplane_drift_share_ratio                    model, window
modelplane_drift_score                          model, window, column, score
modelplane_model_metric                         model, window, version, metric
modelplane_prediction_latency_p50_seconds       model, window, version (also p95, p99)
modelplane_prediction_error_ratio               model, window, version
modelplane_prediction_log_dropped_records       model, window, version
==============================================  ======================================

Building the report reads the prediction log, so it never runs in a scrape on the event
loop: with ``refresh_seconds`` the collector computes the families in a background thread
(:meth:`MonitoringCollector.start`) and a scrape copies the last ones out; without it
(a script registering it on its own registry) each scrape computes them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.monitoring.service import MonitoringService

__all__ = ["MonitoringCollector"]

log = logging.getLogger("modelplane.monitoring")


class MonitoringCollector:
    """A ``prometheus_client`` collector of the figures above for ``models`` over
    ``window``: ``registry.register(MonitoringCollector(client.monitoring, ["churn"]))``.

    ``service`` may be a callable returning the service (built on first use, in the
    refresh thread). With ``refresh_seconds``, call :meth:`start` (and :meth:`stop`);
    scrapes then answer the figures of the last refresh and never wait for one."""

    def __init__(self, service: MonitoringService | Callable[[], MonitoringService],
                 models: Iterable[str], window: str = "1h", *,
                 refresh_seconds: float | None = None) -> None:
        self._service = service
        self.models, self.window = list(models), window
        self.refresh_seconds = refresh_seconds
        self._families: list[Any] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def service(self) -> MonitoringService:
        from modelplane.monitoring.service import MonitoringService

        if not isinstance(self._service, MonitoringService) and callable(self._service):
            self._service = self._service()
        return self._service

    def describe(self) -> list[Any]:
        return []  # the families vary with the data

    def collect(self) -> Iterator[Any]:
        if self.refresh_seconds is None:
            return iter(self.compute())
        return iter(self._families)  # a list swapped whole by the refresh thread

    # -- background refresh -------------------------------------------------------------
    def start(self) -> None:
        """Compute the figures now and every ``refresh_seconds`` in a daemon thread."""
        if self._thread is not None or self.refresh_seconds is None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="modelplane-monitoring-gauges",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    def refresh(self) -> None:
        """Recompute the figures (the refresh thread calls this); a failure keeps the
        last figures and is logged: a scrape never fails because of monitoring."""
        try:
            self._families = self.compute()
        except Exception:
            log.warning("monitoring gauges unavailable", exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.refresh_seconds or 15.0)

    # -- the figures --------------------------------------------------------------------
    def compute(self) -> list[Any]:
        """The metric families, computed from the monitoring service now."""
        from prometheus_client.core import GaugeMetricFamily

        from modelplane.monitoring.report import build_report

        share = GaugeMetricFamily("modelplane_drift_share_ratio", "Share of the feature "
                                  "columns that drifted over the window (0 to 1)",
                                  labels=["model", "window"])
        column = GaugeMetricFamily("modelplane_drift_score", "A column's drift effect size "
                                   "over the window", labels=["model", "window", "column",
                                                              "score"])
        perf = GaugeMetricFamily("modelplane_model_metric", "Label metric over the window",
                                 labels=["model", "window", "version", "metric"])
        labels = ["model", "window", "version"]
        latency = {q: GaugeMetricFamily(f"modelplane_prediction_latency_{q}_seconds",
                                        f"{q} of prediction latency over the window, in "
                                        "seconds", labels=labels)
                   for q in ("p50", "p95", "p99")}
        errors = GaugeMetricFamily("modelplane_prediction_error_ratio", "Share of the "
                                   "predictions that failed over the window (0 to 1)",
                                   labels=labels)
        dropped = GaugeMetricFamily("modelplane_prediction_log_dropped_records",
                                    "Prediction log records dropped over the window",
                                    labels=labels)
        service = self.service
        for model in self.models:
            report = build_report(service, model, self.window)
            w = report.window
            if report.drift is not None:
                share.add_metric([model, w], report.drift.result.share)
                for c in report.drift.result.columns:
                    if c.effect_size is not None:
                        column.add_metric([model, w, c.column, c.effect], c.effect_size)
            for p in [report.performance.overall, *report.performance.versions]:
                v = "all" if p.version is None else str(p.version)
                for name, value in p.metrics.items():
                    if value is not None:
                        perf.add_metric([model, w, v, name], value)
            for h in [report.health.overall, *report.health.versions]:
                v = "all" if h.version is None else str(h.version)
                for q, value in (("p50", h.latency_p50_s), ("p95", h.latency_p95_s),
                                 ("p99", h.latency_p99_s)):
                    if value is not None:
                        latency[q].add_metric([model, w, v], value)
                if h.error_rate is not None:
                    errors.add_metric([model, w, v], h.error_rate)
                dropped.add_metric([model, w, v], h.dropped)
        return [share, column, perf, *latency.values(), errors, dropped]
