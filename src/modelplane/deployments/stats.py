"""Per-variant request figures shared by every replica.

Each serving replica counts, per (deployment, variant, version, one-second bucket),
requests, errors (5xx answers), the latency sum and a sparse log-spaced latency histogram
(buckets 20% wide from 0.1 ms to about a minute). :class:`StatsRecorder` keeps them in
memory on the event loop (a dict lookup and three additions per request) and
:meth:`StatsRecorder.flush` writes the buckets that changed since the last flush to the
metadata database, keyed by the replica's id: each write *replaces* that replica's row
for the bucket with its running totals, so a retried flush never counts twice. A
canary's analysis sums the rows of all replicas; it sees their traffic at most one flush
interval late.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from modelplane.deployments.entities import VariantStats

if TYPE_CHECKING:
    from modelplane.deployments.store import DeploymentStore

__all__ = ["StatsRecorder", "StatsRow", "bucket_index", "quantile"]

_BASE = 0.0001  # seconds: the upper bound of bucket 0
_RATIO = 1.2
_LOG_RATIO = math.log(_RATIO)
_TOP = 70  # 0.1 ms * 1.2**70 ~ 5.9 minutes
KEEP_SECONDS = 900  # in-memory buckets older than this are forgotten after a flush

#: (deployment, variant, version, bucket epoch second) -> figures
StatsKey = tuple[str, str, int, int]
StatsRow = tuple[str, str, int, int, VariantStats]


def bucket_index(seconds: float) -> int:
    if seconds <= _BASE:
        return 0
    return min(_TOP, int(math.log(seconds / _BASE) / _LOG_RATIO) + 1)


def _bounds(index: int) -> tuple[float, float]:
    if index == 0:
        return 0.0, _BASE
    return _BASE * _RATIO ** (index - 1), _BASE * _RATIO ** index


def quantile(hist: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile of a latency histogram (linear within the bucket), or None."""
    total = sum(hist.values())
    if not total:
        return None
    target = q * total
    running = 0
    for index in sorted(hist):
        count = hist[index]
        if running + count >= target:
            low, high = _bounds(index)
            share = (target - running) / count if count else 1.0
            return low + (high - low) * share
        running += count
    return _bounds(max(hist))[1]


class StatsRecorder:
    """One replica's figures (see the module docstring). ``record`` and ``take`` run on
    the event loop (no locks on the request path); the rows ``take`` returns are written
    with :meth:`write` on any thread, and put back with :meth:`retry` when that fails."""

    def __init__(self, store: DeploymentStore, replica: str) -> None:
        self.store = store
        self.replica = replica
        self._buckets: dict[StatsKey, VariantStats] = {}
        self._dirty: set[StatsKey] = set()
        self.flush_failures = 0

    def record(self, deployment: str, variant: str, version: int, error: bool,
               seconds: float) -> None:
        key = (deployment, variant, version, int(time.time()))
        stats = self._buckets.get(key)
        if stats is None:
            stats = self._buckets[key] = VariantStats()
        stats.n += 1
        stats.errors += error
        stats.latency_sum += seconds
        index = bucket_index(seconds)
        stats.hist[index] = stats.hist.get(index, 0) + 1
        self._dirty.add(key)

    def take(self) -> list[StatsRow]:
        """Copies of the buckets changed since the last call (and forget old ones)."""
        dirty, self._dirty = self._dirty, set()
        rows = [(*key, _copy(self._buckets[key])) for key in dirty]
        horizon = int(time.time()) - KEEP_SECONDS
        for key in [k for k in self._buckets if k[3] < horizon]:
            del self._buckets[key]
        return rows

    def write(self, rows: list[StatsRow]) -> None:
        if rows:
            self.store.write_stats(self.replica, rows)

    def retry(self, rows: list[StatsRow]) -> None:
        self.flush_failures += 1
        self._dirty.update((r[0], r[1], r[2], r[3]) for r in rows
                           if (r[0], r[1], r[2], r[3]) in self._buckets)

    def flush(self) -> int:
        """``take`` and ``write`` in one call (same thread as ``record``)."""
        rows = self.take()
        try:
            self.write(rows)
        except Exception:
            self.retry(rows)
            raise
        return len(rows)


def _copy(stats: VariantStats) -> VariantStats:
    return VariantStats(stats.n, stats.errors, stats.latency_sum, dict(stats.hist))


def merge(rows: list[tuple[str, int, Any]]) -> dict[tuple[str, int], VariantStats]:
    """Sum ``(variant, version, VariantStats)`` rows by variant and version."""
    out: dict[tuple[str, int], VariantStats] = {}
    for variant, version, stats in rows:
        out.setdefault((variant, version), VariantStats()).add(stats)
    return out
