"""Serving health from time buckets: request count, error rate, latency quantiles,
throughput, cache hits and dropped log records, per version.

Latencies go into a sparse log-spaced histogram (bin ``i`` holds ``[L * G**i, L * G**(i+1))``
with ``L`` = 1 microsecond and ``G`` = 1.02), so a quantile read from buckets is within 1%
of the exact one and a day of buckets costs a few kilobytes, not a rescan of the log.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["HealthPoint", "HealthReport", "StatsBucket", "VersionHealth", "health_series",
           "latency_bin", "quantile"]

LOW = 1e-6
GROWTH = 1.02
_LOG_GROWTH = math.log(GROWTH)
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def latency_bin(seconds: float) -> int:
    if not seconds > LOW:  # also NaN
        return 0
    return int(math.log(seconds / LOW) / _LOG_GROWTH)


def _bin_value(index: int) -> float:
    """The geometric middle of bin ``index``."""
    return LOW * GROWTH ** (index + 0.5)


def quantile(hist: Mapping[int, int], q: float) -> float | None:
    total = sum(hist.values())
    if total == 0:
        return None
    rank = q * total
    running = 0
    for index in sorted(hist):
        running += hist[index]
        if running >= rank:
            return _bin_value(index)
    return _bin_value(max(hist))


@dataclass
class StatsBucket:
    """Additive health counters of one (model, version, time bucket)."""

    n: int = 0
    errors: int = 0
    cache_hits: int = 0
    dropped: int = 0
    latency_sum: float = 0.0
    latency_hist: dict[int, int] = field(default_factory=dict)

    def add_latency(self, seconds: float | None) -> None:
        if seconds is None or not math.isfinite(seconds):
            return
        self.latency_sum += seconds
        index = latency_bin(seconds)
        self.latency_hist[index] = self.latency_hist.get(index, 0) + 1

    def merge(self, other: StatsBucket) -> StatsBucket:
        self.n += other.n
        self.errors += other.errors
        self.cache_hits += other.cache_hits
        self.dropped += other.dropped
        self.latency_sum += other.latency_sum
        for k, v in other.latency_hist.items():
            self.latency_hist[k] = self.latency_hist.get(k, 0) + v
        return self

    def hist_json(self) -> dict[str, int]:
        return {str(k): v for k, v in self.latency_hist.items()}

    @staticmethod
    def hist_from_json(data: Mapping[str, Any] | None) -> dict[int, int]:
        return {int(k): int(v) for k, v in (data or {}).items()}


@dataclass
class VersionHealth:
    """Health of one version (``version`` None: all versions together)."""

    version: int | None
    requests: int
    errors: int
    error_rate: float | None
    cache_hit_rate: float | None
    latency_mean_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    throughput_per_s: float | None
    dropped: int

    @classmethod
    def of(cls, version: int | None, stats: StatsBucket, seconds: float | None) -> VersionHealth:
        n = stats.n
        timed = sum(stats.latency_hist.values())
        q = {k: quantile(stats.latency_hist, v) for k, v in QUANTILES.items()}
        return cls(version=version, requests=n, errors=stats.errors,
                   error_rate=stats.errors / n if n else None,
                   cache_hit_rate=stats.cache_hits / n if n else None,
                   latency_mean_s=stats.latency_sum / timed if timed else None,
                   latency_p50_s=q["p50"], latency_p95_s=q["p95"], latency_p99_s=q["p99"],
                   throughput_per_s=n / seconds if seconds else None, dropped=stats.dropped)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class HealthReport:
    """Health of a model over a window: all versions together, then each version."""

    model: str
    window: str
    overall: VersionHealth
    versions: list[VersionHealth]
    logger: dict[str, int] | None = None  # this process's prediction logger counters

    @classmethod
    def build(cls, model: str, window: str, rows: Iterable[tuple[int, StatsBucket]],
              seconds: float | None) -> HealthReport:
        per: dict[int, StatsBucket] = {}
        total = StatsBucket()
        for version, bucket in rows:
            per.setdefault(version, StatsBucket()).merge(bucket)
            total.merge(bucket)
        return cls(model=model, window=window, overall=VersionHealth.of(None, total, seconds),
                   versions=[VersionHealth.of(v, per[v], seconds) for v in sorted(per)])

    def metric(self, name: str, version: int | None = None) -> float | None:
        h = self.overall if version is None else next(
            (v for v in self.versions if v.version == version), None)
        if h is None:
            return None
        return {"latency_p50": h.latency_p50_s, "latency_p95": h.latency_p95_s,
                "latency_p99": h.latency_p99_s, "error_rate": h.error_rate,
                "request_count": float(h.requests), "throughput": h.throughput_per_s,
                "dropped": float(h.dropped), "latency_mean": h.latency_mean_s,
                "cache_hit_rate": h.cache_hit_rate}[name]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "window": self.window, "overall": self.overall.to_dict(),
                "versions": [v.to_dict() for v in self.versions], "logger": self.logger}


@dataclass
class HealthPoint:
    """Health over one interval of a series: its start (epoch seconds) and figures."""

    start: float
    seconds: float
    requests: int
    errors: int
    latency_p50_s: float | None
    latency_p99_s: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_rate": self.error_rate}


def health_series(rows: Iterable[tuple[float, StatsBucket]], start: float, end: float,
                  points: int) -> list[HealthPoint]:
    """``rows`` of (bucket start in epoch seconds, counters) summed into ``points`` equal
    intervals from ``start`` to ``end``; intervals without rows are there, with zeros."""
    span = max(end - start, 1e-9)
    step = span / max(points, 1)
    slots = [StatsBucket() for _ in range(max(points, 1))]
    for at, bucket in rows:
        index = min(max(int((at - start) // step), 0), len(slots) - 1)
        slots[index].merge(bucket)
    return [HealthPoint(start + i * step, step, s.n, s.errors, quantile(s.latency_hist, 0.5),
                        quantile(s.latency_hist, 0.99)) for i, s in enumerate(slots)]
