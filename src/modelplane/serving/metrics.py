"""Prometheus metrics for serving: one collector in a per-app ``CollectorRegistry``.

Names follow the Prometheus conventions (base units, ``_total`` counters) and labels
stay low-cardinality: ``model`` only ever holds a served model's name (requests for
unknown models count under ``model=""``), ``version`` a served version number, ``status``
the HTTP status code.

=================================================  =========  ===========================
name                                               type       labels
=================================================  =========  ===========================
modelplane_serving_requests_total                  counter    model, version, status
modelplane_serving_request_duration_seconds        histogram  model
modelplane_serving_batch_size                      histogram  model (rows per model call)
modelplane_serving_queue_depth                     gauge      model (rows waiting)
modelplane_serving_cache_hits_total                counter    model
modelplane_serving_cache_misses_total              counter    model
modelplane_serving_model_load_duration_seconds     gauge      model, version
modelplane_serving_model_loaded                    gauge      model, version (1 = loaded)
=================================================  =========  ===========================

The figures are plain Python numbers updated on the event loop (the only thread that
touches them) and turned into metric families when scraped: the prediction path pays
a dict lookup and an addition per figure, not prometheus-client's per-sample locks.
Several ``--workers`` processes each keep their own figures (prometheus-client's
multiprocess mode is not wired); scrape each replica, or run one worker per replica.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

__all__ = ["ServingMetrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _Histogram:
    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class ServingMetrics(Collector):
    """The serving figures, registered in ``registry`` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[str, _Histogram] = {}
        self._batches: dict[str, _Histogram] = {}
        self._queues: dict[str, Callable[[], float]] = {}
        self._hits: dict[str, _Counter] = {}
        self._misses: dict[str, _Counter] = {}
        self._load_seconds: dict[tuple[str, str], float] = {}
        self.registry.register(self)

    # -- recording (event loop) ---------------------------------------------------------
    def request(self, model: str, version: str, status: int, seconds: float) -> None:
        key = (model, version, status)
        requests = self._requests
        requests[key] = requests.get(key, 0) + 1
        if model:
            latency = self._latency.get(model)
            if latency is None:
                latency = self._latency[model] = _Histogram(LATENCY_BUCKETS)
            latency.observe(seconds)

    def batch_observer(self, model: str) -> Callable[[int], None]:
        histogram = self._batches.setdefault(model, _Histogram(BATCH_BUCKETS))
        return histogram.observe  # type: ignore[return-value]

    def watch_queue(self, model: str, depth: Callable[[], float]) -> None:
        self._queues[model] = depth

    def cache(self, model: str) -> tuple[_Counter, _Counter]:
        return (self._hits.setdefault(model, _Counter()),
                self._misses.setdefault(model, _Counter()))

    def version_loaded(self, model: str, version: str, seconds: float) -> None:
        self._load_seconds[(model, version)] = seconds

    def version_unloaded(self, model: str, version: str) -> None:
        self._load_seconds.pop((model, version), None)

    # -- exposition ---------------------------------------------------------------------
    def describe(self) -> list[Any]:
        return []  # families vary with what is served; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily("modelplane_serving_requests",
                                       "Prediction requests answered.",
                                       labels=["model", "version", "status"])
        for (model, version, status), value in sorted(self._requests.items()):
            requests.add_metric([model, version, str(status)], value)
        yield requests
        yield self._histograms("modelplane_serving_request_duration_seconds",
                               "Time from request start to response, in seconds.",
                               self._latency)
        yield self._histograms("modelplane_serving_batch_size",
                               "Rows per model call after dynamic batching.", self._batches)
        queue = GaugeMetricFamily("modelplane_serving_queue_depth",
                                  "Rows waiting for the model.", labels=["model"])
        for model, depth in sorted(self._queues.items()):
            queue.add_metric([model], depth())
        yield queue
        for name, text, counters in (
                ("modelplane_serving_cache_hits", "Requests answered from the prediction "
                 "cache.", self._hits),
                ("modelplane_serving_cache_misses", "Cacheable requests the prediction "
                 "cache did not hold.", self._misses)):
            family = CounterMetricFamily(name, text, labels=["model"])
            for model, counter in sorted(counters.items()):
                family.add_metric([model], counter.value)
            yield family
        load = GaugeMetricFamily("modelplane_serving_model_load_duration_seconds",
                                 "Time to fetch, verify, load and warm up a version.",
                                 labels=["model", "version"])
        loaded = GaugeMetricFamily("modelplane_serving_model_loaded",
                                   "1 for each version loaded and answering requests.",
                                   labels=["model", "version"])
        for (model, version), seconds in sorted(self._load_seconds.items()):
            load.add_metric([model, version], seconds)
            loaded.add_metric([model, version], 1)
        yield load
        yield loaded

    @staticmethod
    def _histograms(name: str, text: str, by_model: dict[str, _Histogram]) -> Any:
        family = HistogramMetricFamily(name, text, labels=["model"])
        for model, histogram in sorted(by_model.items()):
            family.add_metric([model], histogram.buckets(), histogram.sum)
        return family
