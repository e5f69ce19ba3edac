"""``/metrics`` of ``modelplane serve`` with a day of logged traffic (issue 14: scrape p99
at most 10 ms, never blocking a request).

A modelplane home holds the serving benchmark's model (RandomForest, 50 trees,
breast_cancer) with a reference profile and a day of prediction-log records (one a
second over the last 24 hours; ``--quick``: one every 4 seconds). ``modelplane serve``
runs on it with the monitoring gauges refreshed every 5 seconds (``MODELPLANE_METRICS_
REFRESH_SECONDS=5``, a third of the default: the background report runs several times
during the measurement), while one thread scrapes ``/metrics`` back to back and another
polls ``/v2/health/ready``. Figures: scrape latency p50/p99/max over HTTP, health-check
p99 while scraping (the machine's noise floor for a trivial request), the CPU time of
one exposition of the precomputed gauges in process (what a scrape costs the event
loop), and what one scrape cost when it built the monitoring report itself (as the old
handler did, on the event loop).
Run: ``python benchmarks/scrape.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402
from benchmarks.serving import Candidate, _check, _setup, _start, _stop  # noqa: E402

BENCHMARK = "metrics scrape"


def _log_a_day(home: Path, every_s: float) -> int:
    """A reference and a day of prediction-log records for ``cancer``; returns the count."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    from modelplane.client import Client
    from modelplane.core.config import Settings

    client = Client(Settings(home=home))
    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    client.monitoring.set_reference("cancer", frame)
    rng = np.random.default_rng(0)
    now = time.time()
    times = np.arange(now - 86_400, now, every_s)
    rows = frame.to_dict("records")
    chunk = 5_000
    for start in range(0, len(times), chunk):
        client.monitoring.log_predictions([
            {"request_id": f"r{start + i}", "model": "cancer", "version": 1, "time": float(t),
             "inputs": rows[(start + i) % len(rows)], "outputs": int(rng.integers(2)),
             "latency_s": float(rng.gamma(2.0, 0.002)), "status": "ok"}
            for i, t in enumerate(times[start:start + chunk])])
    client.monitoring.close()
    return len(times)


def _in_process(home: Path) -> tuple[float, list[float]]:
    """What one scrape cost before (the monitoring report built in the scrape), and the
    CPU time of exposing precomputed gauges now (``generate_latest`` of a registry
    holding them), per scrape."""
    from prometheus_client import CollectorRegistry, generate_latest

    from modelplane.client import Client
    from modelplane.core.config import Settings
    from modelplane.monitoring.prometheus import MonitoringCollector

    client = Client(Settings(home=home))
    collector = MonitoringCollector(client.monitoring, ["cancer"])
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        collector.compute()
        samples.append(time.perf_counter() - started)
    cached = MonitoringCollector(client.monitoring, ["cancer"], refresh_seconds=3600)
    cached.refresh()
    registry = CollectorRegistry()
    registry.register(cached)
    exposition = []
    for _ in range(2000):
        started = time.thread_time()
        generate_latest(registry)
        exposition.append(time.thread_time() - started)
    client.monitoring.close()
    return statistics.median(samples), exposition


def _poll(url: str, stop: threading.Event, out: list[float], status: list[int]) -> None:
    import httpx

    with httpx.Client(timeout=30) as http:
        while not stop.is_set():
            started = time.perf_counter()
            answer = http.get(url)
            out.append(time.perf_counter() - started)
            status.append(answer.status_code)


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(quick: bool = False) -> list[Row]:
    import httpx

    workdir = Path(tempfile.mkdtemp(prefix="mp-bench-scrape-"))
    record, _ = _setup(workdir)
    home = workdir / "mphome"
    logged = _log_a_day(home, 4.0 if quick else 1.0)
    os.environ.pop("MODELPLANE_HOME", None)
    server = Candidate("modelplane", [sys.executable, "-m", "modelplane", "serve",
                                      "models:/cancer@production", "--log-level", "warning"],
                       "/predict/cancer", "/v2/health/ready", b"",
                       env={"MODELPLANE_HOME": str(home),
                            "MODELPLANE_METRICS_REFRESH_SECONDS": "5"})
    import json

    server.body = json.dumps(record).encode()
    proc = _start(server, workdir)
    try:
        _check(server)
        base = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            deadline = time.monotonic() + 120  # the first background report
            while "modelplane_prediction_latency_p99_seconds{" not in http.get(
                    "/metrics").text:
                if time.monotonic() > deadline:
                    raise RuntimeError("the monitoring gauges never appeared")
                time.sleep(0.2)
        stop = threading.Event()
        health: list[float] = []
        health_status: list[int] = []
        poller = threading.Thread(target=_poll, args=(f"{base}/v2/health/ready", stop,
                                                      health, health_status))
        poller.start()
        scrapes: list[float] = []
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(200 if quick else 1000):
                started = time.perf_counter()
                answer = http.get("/metrics")
                scrapes.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise RuntimeError(f"/metrics answered {answer.status_code}")
        stop.set()
        poller.join()
    finally:
        _stop(proc)
    before, exposition = _in_process(home)
    p99 = _quantile(scrapes, 0.99)
    note = f"{logged} records over 24 h; {len(scrapes)} scrapes; gauges refreshed every 5 s"
    return [
        row(BENCHMARK, "scrape p50", statistics.median(scrapes) * 1e3, "ms", note=note),
        row(BENCHMARK, "scrape p99", p99 * 1e3, "ms", target="<= 10 ms", ok=p99 <= 0.010),
        row(BENCHMARK, "scrape max", max(scrapes) * 1e3, "ms"),
        row(BENCHMARK, "health check p99 while scraping", _quantile(health, 0.99) * 1e3, "ms",
            note=f"{len(health)} checks, {sum(s != 200 for s in health_status)} not 200"),
        row(BENCHMARK, "report built per scrape (before)", before * 1e3, "ms",
            note="the old handler's cost, on the event loop"),
        row(BENCHMARK, "exposition CPU p99 (in process)", _quantile(exposition, 0.99) * 1e3,
            "ms", target="<= 10 ms", ok=_quantile(exposition, 0.99) <= 0.010,
            note="precomputed gauges: what a scrape costs the event loop"),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print_table(main(parser.parse_args().quick), title=BENCHMARK)
