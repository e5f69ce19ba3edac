from __future__ import annotations

import numpy as np
import pytest

from modelplane.monitoring.health import HealthReport, StatsBucket


def test_latency_quantiles_from_the_histogram_are_within_two_percent() -> None:
    rng = np.random.default_rng(0)
    latencies = rng.lognormal(-5, 0.7, 50_000)
    a, b = StatsBucket(), StatsBucket()
    for i, v in enumerate(latencies):
        (a if i % 2 else b).add_latency(float(v))
        (a if i % 2 else b).n += 1
    report = HealthReport.build("m", "1h", [(1, a), (2, b)], 3600)
    for q, got in ((50, report.overall.latency_p50_s), (95, report.overall.latency_p95_s),
                   (99, report.overall.latency_p99_s)):
        assert got == pytest.approx(np.percentile(latencies, q), rel=0.02)
    assert report.overall.requests == 50_000
    assert [v.version for v in report.versions] == [1, 2]
    assert report.overall.throughput_per_s == pytest.approx(50_000 / 3600)
