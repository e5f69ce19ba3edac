"""Prometheus metrics for serving: one collector in a per-app ``CollectorRegistry``.

Names follow the Prometheus conventions (base units, ``_total`` counters) and labels
stay low-cardinality: ``model`` only ever holds a served model's or deployment's name
(requests for names nobody serves, and paths no route answers, are not counted),
``version`` a served version number (empty while none answers), ``status`` the HTTP
status code.

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
With ``--workers N`` each worker keeps its own figures and publishes them to the
server's shared folder (see ``workershare``); a scrape of any worker answers the sum.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from modelplane.serving.workershare import WorkerShare

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
        self._share: WorkerShare | None = None
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
    def share(self, workers: WorkerShare) -> None:
        """Answer scrapes for every worker of the server (see ``workershare``)."""
        self._share = workers
        workers.add("serving", self.snapshot)

    def snapshot(self) -> dict[str, Any]:
        """This process's figures as plain data (copies: safe from another thread)."""
        return {
            "requests": [[m, v, s, n] for (m, v, s), n in list(self._requests.items())],
            "latency": {m: [list(h.counts), h.sum] for m, h in list(self._latency.items())},
            "batches": {m: [list(h.counts), h.sum] for m, h in list(self._batches.items())},
            "queues": {m: float(depth()) for m, depth in list(self._queues.items())},
            "hits": {m: c.value for m, c in list(self._hits.items())},
            "misses": {m: c.value for m, c in list(self._misses.items())},
            "load": [[m, v, s] for (m, v), s in list(self._load_seconds.items())],
        }

    def describe(self) -> list[Any]:
        return []  # families vary with what is served; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        if self._share is None:
            return self._families(self.snapshot())
        return self._families(_merge(self._share.gather("serving")))

    def _families(self, data: dict[str, Any]) -> Iterator[Any]:
        requests = CounterMetricFamily("modelplane_serving_requests",
                                       "Prediction requests answered.",
                                       labels=["model", "version", "status"])
        for model, version, status, value in sorted(data["requests"]):
            requests.add_metric([model, version, str(status)], value)
        yield requests
        yield _histograms("modelplane_serving_request_duration_seconds",
                          "Time from request start to response, in seconds.",
                          data["latency"], LATENCY_BUCKETS)
        yield _histograms("modelplane_serving_batch_size",
                          "Rows per model call after dynamic batching.", data["batches"],
                          BATCH_BUCKETS)
        queue = GaugeMetricFamily("modelplane_serving_queue_depth",
                                  "Rows waiting for the model.", labels=["model"])
        for model, depth in sorted(data["queues"].items()):
            queue.add_metric([model], depth)
        yield queue
        for name, text, key in (
                ("modelplane_serving_cache_hits", "Requests answered from the prediction "
                 "cache.", "hits"),
                ("modelplane_serving_cache_misses", "Cacheable requests the prediction "
                 "cache did not hold.", "misses")):
            family = CounterMetricFamily(name, text, labels=["model"])
            for model, value in sorted(data[key].items()):
                family.add_metric([model], value)
            yield family
        load = GaugeMetricFamily("modelplane_serving_model_load_duration_seconds",
                                 "Time to fetch, verify, load and warm up a version.",
                                 labels=["model", "version"])
        loaded = GaugeMetricFamily("modelplane_serving_model_loaded",
                                   "1 for each version loaded and answering requests.",
                                   labels=["model", "version"])
        for model, version, seconds in sorted(data["load"]):
            load.add_metric([model, version], seconds)
            loaded.add_metric([model, version], 1)
        yield load
        yield loaded


def _histograms(name: str, text: str, by_model: dict[str, Any],
                bounds: tuple[float, ...]) -> Any:
    family = HistogramMetricFamily(name, text, labels=["model"])
    edges = [*(repr(float(b)) for b in bounds), "+Inf"]
    for model, (counts, total) in sorted(by_model.items()):
        running, buckets = 0, []
        for edge, count in zip(edges, counts, strict=True):
            running += count
            buckets.append((edge, running))
        family.add_metric([model], buckets, total)
    return family


def _merge(snapshots: list[tuple[bool, dict[str, Any]]]) -> dict[str, Any]:
    """The sum of the workers' snapshots: counters and histograms of every worker, the
    gauges of the live ones (queue depths add up; a version counts as loaded once)."""
    requests: dict[tuple[str, str, int], int] = {}
    hists: dict[str, dict[str, list[Any]]] = {"latency": {}, "batches": {}}
    counters: dict[str, dict[str, int]] = {"hits": {}, "misses": {}}
    queues: dict[str, float] = {}
    load: dict[tuple[str, str], float] = {}
    for live, data in snapshots:
        for model, version, status, n in data.get("requests", []):
            key = (model, version, status)
            requests[key] = requests.get(key, 0) + n
        for kind, merged in hists.items():
            for model, (counts, total) in data.get(kind, {}).items():
                have = merged.get(model)
                merged[model] = ([counts, total] if have is None else
                                 [[a + b for a, b in zip(have[0], counts, strict=True)],
                                  have[1] + total])
        for kind, merged_counts in counters.items():
            for model, n in data.get(kind, {}).items():
                merged_counts[model] = merged_counts.get(model, 0) + n
        if live:
            for model, depth in data.get("queues", {}).items():
                queues[model] = queues.get(model, 0.0) + depth
            for model, version, seconds in data.get("load", []):
                load[(model, version)] = max(seconds, load.get((model, version), 0.0))
    return {"requests": [[*k, n] for k, n in requests.items()], **hists, **counters,
            "queues": queues, "load": [[m, v, s] for (m, v), s in load.items()]}
