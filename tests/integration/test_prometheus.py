"""``/metrics`` as Prometheus reads it: ``promtool check metrics`` (Prometheus's own
linter, see ``tests/promtool_env.py``) on the exposition of ``modelplane serve``,
``modelplane server`` and ``server --serve`` after traffic (good, refused, unknown
models, unrouted paths), the scraper's ``Accept`` honoured, and a scrape that never
waits for the monitoring report."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelplane.client import Client
from modelplane.core.config import Settings
from tests.conftest import _in_ci
from tests.integration.conftest import free_port
from tests.promtool_env import promtool

OPENMETRICS = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
               "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
PLAIN = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


@pytest.fixture(scope="module")
def promtool_bin() -> Path:
    binary = promtool()
    if binary is None:
        reason = "promtool unavailable (tests/promtool_env.py could not fetch it)"
        if _in_ci():
            pytest.fail(f"{reason}, and CI=true forbids skipping")
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    home = tmp_path_factory.mktemp("prom") / "home"
    client = Client(Settings(home=home))
    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(frame, target)
    client.log_model(None, model, "cancer", input_example=frame[:5], stage="production")
    client.monitoring.set_reference("cancer", frame)
    return home


def _start(home: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    env.update(MODELPLANE_HOME=str(home), MODELPLANE_METRICS_REFRESH_SECONDS="0.2",
               MODELPLANE_SERVING_POLL_SECONDS="0.2")
    proc = subprocess.Popen([sys.executable, "-m", "modelplane", *args, "--port", str(port),
                             "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the server did not become ready in 120 s")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


@pytest.fixture(params=[("serve", "models:/cancer@production"),
                        ("server", "--serve", "models:/cancer@production"),
                        ("server",)],
                ids=["serve", "server-serve", "server"])
def live(request: pytest.FixtureRequest, home: Path) -> Iterator[tuple[str, bool]]:
    proc, url = _start(home, *request.param)
    try:
        yield url, "models:/cancer@production" in request.param
    finally:
        _stop(proc)


def _traffic(http: httpx.Client, serving: bool) -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    if serving:
        for i in range(20):
            assert http.post("/predict/cancer", json=frame.iloc[i].to_dict()).status_code == 200
        assert http.post("/predict/cancer", json={"nothing": 1}).status_code == 422
    for path in ("/predict/no-such-model", "/v2/models/no-such-model/infer"):
        assert http.post(path, json={"x": 1}).status_code == 404
    assert http.get("/v2/no/such/route").status_code == 404
    assert http.delete("/v2/health/live").status_code == 405
    assert http.post("/metrics").status_code == 405


def _check(promtool_bin: Path, text: str) -> None:
    got = subprocess.run([str(promtool_bin), "check", "metrics"], input=text, text=True,
                         capture_output=True, timeout=60)
    assert got.returncode == 0, f"promtool check metrics:\n{got.stdout}{got.stderr}"
    assert got.stdout.strip() == "" and got.stderr.strip() == "", got.stdout + got.stderr


@pytest.mark.slow
def test_promtool_accepts_metrics_after_traffic(promtool_bin: Path,
                                                live: tuple[str, bool]) -> None:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    url, serving = live
    with httpx.Client(base_url=url, timeout=30) as http:
        _traffic(http, serving)
        deadline = time.monotonic() + 60
        while True:  # the prediction log reaches the monitoring gauges in the background
            plain = http.get("/metrics", headers={"Accept": PLAIN})
            if not serving or "modelplane_prediction_latency_p99_seconds{" in plain.text:
                break
            assert time.monotonic() < deadline, plain.text
            time.sleep(0.3)
        assert plain.status_code == 200
        assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
        _check(promtool_bin, plain.text)
        body = plain.text
        assert 'quantile="' not in body  # only a summary may carry it
        assert "no-such-model" not in body and 'model=""' not in body
        if serving:
            assert 'modelplane_serving_requests_total{model="cancer",status="200",version="1"}' \
                   " 20.0" in body
            assert 'modelplane_prediction_latency_p99_seconds{model="cancer",version="all",' \
                   'window="1h"}' in body
            assert 'modelplane_drift_share_ratio{model="cancer",window="1h"}' in body
        open_metrics = http.get("/metrics", headers={"Accept": OPENMETRICS})
        assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
        assert open_metrics.text.rstrip().endswith("# EOF")
        names = {f.name for f in text_string_to_metric_families(open_metrics.text)}
        assert "modelplane_serving_requests" in names
        assert http.head("/metrics").status_code == 200
