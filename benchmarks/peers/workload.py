"""The catalogue workload, shared by modelplane and the peers (plain Python only).

Figures are per-operation medians in seconds (or rates), returned as a dict.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_time(fn: Callable[[], Any], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def paired_overhead(raw: Callable[[], Any], wrapped: Callable[[], Any], repeat: int) -> float:
    """Median of (wrapped - raw) over interleaved pairs: noise on a shared machine hits
    both calls of a pair alike, which separate medians do not guarantee."""
    for _ in range(20):
        raw()
        wrapped()
    diffs = []
    for i in range(repeat):
        first, second = (raw, wrapped) if i % 2 else (wrapped, raw)
        start = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        end = time.perf_counter()
        a, b = middle - start, end - middle
        diffs.append((b - a) if first is raw else (a - b))
    return statistics.median(diffs)


def training_data() -> tuple[Any, Any, Any]:
    """RandomForest (50 trees) on scikit-learn's breast_cancer, as a DataFrame."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    data = load_breast_cancer(as_frame=True)
    X, y = data.data, data.target
    model = RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1).fit(X, y)
    return model, X, y


def run_params(i: int) -> dict[str, str]:
    return {f"p{j}": str((i * 7 + j) % 10) for j in range(5)}


def run_metrics(i: int) -> dict[str, float]:
    return {f"m{j}": ((i * 31 + j * 17) % 1000) / 1000 for j in range(5)}


SEARCH_FILTER = "metrics.m0 > 0.5"
