from __future__ import annotations

import re

import numpy as np
import pandas as pd

from modelplane.monitoring.report import MonitoringCollector, build_report, render_html
from modelplane.monitoring.service import MonitoringService
from tests.unit.monitoring.conftest import log


def test_html_report_is_standalone_with_histograms(service: MonitoringService) -> None:
    rng = np.random.default_rng(0)
    service.set_reference("m", pd.DataFrame({"x": rng.normal(size=3000)}),
                          predictions=np.ones(3000))
    log(service, 500, x=0.7)
    service.log_labels("m", {})  # nothing to join is fine
    page = render_html(build_report(service, "m", "1h"))
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 2  # x and the prediction
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"https?://", page)
    assert "DRIFT" in page


def test_report_without_reference_says_why(service: MonitoringService) -> None:
    log(service, 5)
    report = build_report(service, "m", "1h")
    assert report.drift is None and "has no reference profile" in report.drift_error
    assert "has no reference profile" in render_html(report)


def test_prometheus_gauges(service: MonitoringService) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    service.set_reference("m", pd.DataFrame({"x": np.arange(1000.0)}))
    log(service, 100)
    registry = CollectorRegistry()
    registry.register(MonitoringCollector(service, ["m"]))
    text = generate_latest(registry).decode()
    assert 'modelplane_drift_share_ratio{model="m",window="1h"}' in text
    assert 'modelplane_drift_score{column="x",model="m",score="wasserstein",window="1h"}' in text
    assert 'modelplane_prediction_latency_p99_seconds{model="m",version="all",window="1h"}' \
        in text
    assert "quantile=" not in text  # a gauge never carries a summary's label


def test_precomputed_gauges_never_make_a_scrape_wait(service: MonitoringService) -> None:
    import threading
    import time

    from prometheus_client import CollectorRegistry, generate_latest

    log(service, 50)
    release = threading.Event()

    def slow_service() -> MonitoringService:  # the first refresh takes as long as we say
        release.wait(10)
        return service

    collector = MonitoringCollector(slow_service, ["m"], refresh_seconds=0.05)
    registry = CollectorRegistry()
    registry.register(collector)
    collector.start()
    try:
        started = time.perf_counter()
        text = generate_latest(registry).decode()
        assert time.perf_counter() - started < 1.0  # did not wait for the report
        assert "modelplane_prediction_latency_p99_seconds{" not in text
        release.set()
        deadline = time.monotonic() + 10
        while "modelplane_prediction_latency_p99_seconds{" not in text:
            assert time.monotonic() < deadline
            time.sleep(0.02)
            text = generate_latest(registry).decode()
    finally:
        collector.stop()
