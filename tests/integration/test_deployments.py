"""Deployments on real ``modelplane server`` processes: a healthy canary reaching 100%
under continuous load with no failed request, a version failing 20% of requests rolled
back by itself, shadow traffic that cannot slow or fail the caller, sticky A/B over HTTP,
bad input refused with the state unchanged, the CLI, and two replicas on PostgreSQL
agreeing on routing within the stated delay."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from modelplane.client import Client
from modelplane.core.config import Settings
from tests.integration.conftest import cli, free_port

# these tests serve python-flavor models they define: pickles, loaded under the opt-in
pytestmark = pytest.mark.usefixtures("trust_pickles")

EXAMPLE = pd.DataFrame({"a": [1.0], "b": [2.0]})


def _model(factor: float, fail_share: float = 0.0, sleep: float = 0.0) -> Any:
    class Model:  # defined in a function: pickled by value, loads in the server
        def predict(self, x: Any) -> Any:
            import time as _time
            import zlib

            if sleep:
                _time.sleep(sleep)
            values = np.asarray(x["a"], dtype=float)
            for v in values:  # fail on a fixed share of inputs (never the example's 1.0)
                if v != 1.0 and zlib.crc32(repr(float(v)).encode()) % 1000 < fail_share * 1000:
                    raise ValueError(f"cannot predict a={v}")
            return values * factor

    return Model()


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url
        self.http = httpx.Client(base_url=url, timeout=30)

    def predict(self, name: str, a: float | None = None, key: str | None = None
                ) -> httpx.Response:
        headers = {"x-modelplane-key": key} if key else {}
        return self.http.post(f"/predict/{name}", headers=headers,
                              json={"a": random.random() if a is None else a, "b": 1.0})

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(home: Path, **env: str) -> Server:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    environ.update(MODELPLANE_HOME=str(home), **env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane", "server", "--port", str(port),
         "--log-level", "warning"], env=environ, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True)
    server = Server(proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if server.http.get("/api/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("server did not become healthy in 60 s")


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("deployments") / "home"
    client = Client(Settings(home=home))
    client.log_model(None, _model(2), "churn", input_example=EXAMPLE, stage="production")
    client.log_model(None, _model(3), "churn", input_example=EXAMPLE)
    client.log_model(None, _model(2), "fragile", input_example=EXAMPLE, stage="production")
    client.log_model(None, _model(5, fail_share=0.2), "fragile", input_example=EXAMPLE)
    client.log_model(None, _model(2), "mirror", input_example=EXAMPLE, stage="production")
    client.log_model(None, _model(7, fail_share=0.5, sleep=0.05), "mirror",
                     input_example=EXAMPLE)
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[Server]:
    s = start(home, MODELPLANE_DEPLOYMENT_POLL_SECONDS="0.2", MODELPLANE_ALLOW_PICKLE="true")
    yield s
    s.stop()


class Load:
    """Closed-loop clients sending /predict until stopped; every answer is kept."""

    def __init__(self, server: Server, name: str, threads: int = 2) -> None:
        self.server, self.name = server, name
        self.results: list[tuple[int, str | None, str | None]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=30) as http:
            while not self._stop.is_set():
                r = http.post(f"/predict/{self.name}", json={"a": random.random(), "b": 1.0})
                self.results.append((r.status_code, r.headers.get("x-modelplane-variant"),
                                     r.headers.get("x-model-version")))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def _canary(server: Server, name: str) -> dict[str, Any]:
    return server.http.get(f"/api/v1/deployments/{name}").json()["canary"]


@pytest.mark.slow
def test_a_healthy_canary_reaches_100_percent_with_no_failed_request(server: Server) -> None:
    http = server.http
    assert http.post("/api/v1/deployments", json={"name": "churn-live", "model": "churn"}
                     ).status_code == 201
    wait_for(lambda: server.predict("churn-live").status_code == 200, what="routing")
    with Load(server, "churn-live") as load:
        time.sleep(0.5)
        r = http.post("/api/v1/deployments/churn-live/canary", json={
            "version": 2, "steps": [20, 50, 100], "hold": 1, "hold_requests": 10,
            "min_requests": 5,
            "gates": ["error_rate:max=0.01", "latency_p99:max_ratio=3,tolerance=0.05"]})
        assert r.status_code == 201, r.text
        done = wait_for(lambda: _canary(server, "churn-live")["status"] != "running",
                        timeout=60, what="the canary to finish")
        time.sleep(0.6)  # the promoted routing reaches the router
    assert done
    canary = _canary(server, "churn-live")
    assert canary["status"] == "succeeded", canary["reason"]
    statuses = Counter(status for status, _, _ in load.results)
    assert statuses == {200: len(load.results)} and len(load.results) > 100
    assert {"production", "canary"} <= {v for _, v, _ in load.results}
    tail = [server.predict("churn-live") for _ in range(20)]
    assert {(r.headers["x-model-version"], r.headers["x-modelplane-variant"])
            for r in tail} == {("2", "production")}
    assert server.predict("churn-live", a=2.0).json()["predictions"] == [6.0]
    events = [e["kind"] for e in http.get("/api/v1/deployments/churn-live/events").json()[
        "events"]]
    assert events == ["created", "canary_started", "canary_advanced", "canary_advanced",
                      "canary_succeeded"]
    versions = http.get("/api/v1/models/churn/versions/2").json()
    assert versions["stage"] == "production"


@pytest.mark.slow
def test_a_canary_failing_20_percent_is_rolled_back_automatically(server: Server) -> None:
    http = server.http
    http.post("/api/v1/deployments", json={"name": "fragile-live", "model": "fragile"})
    wait_for(lambda: server.predict("fragile-live").status_code == 200, what="routing")
    with Load(server, "fragile-live") as load:
        r = http.post("/api/v1/deployments/fragile-live/canary", json={
            "version": 2, "steps": [10, 50, 100], "hold": 30, "min_requests": 20,
            "gates": ["error_rate:max=0.05"]})
        assert r.status_code == 201, r.text
        wait_for(lambda: _canary(server, "fragile-live")["status"] != "running",
                 timeout=30, what="the rollback")
        time.sleep(0.6)
    canary = _canary(server, "fragile-live")
    assert canary["status"] == "rolled_back"
    assert "error_rate" in canary["reason"] and "max 0.05" in canary["reason"]
    assert canary["step"] == 0
    failed = [(v, ver) for status, v, ver in load.results if status != 200]
    assert failed and set(failed) == {("canary", "2")}  # only the bad version's own failures
    d = http.get("/api/v1/deployments/fragile-live").json()
    assert [(v["name"], v["weight"]) for v in d["variants"]] == [("production", 100.0)]
    assert d["versions"] == {"production": 1}
    tail = [server.predict("fragile-live") for _ in range(30)]
    assert {r.status_code for r in tail} == {200}
    assert {r.headers["x-model-version"] for r in tail} == {"1"}
    events = http.get("/api/v1/deployments/fragile-live/events").json()["events"]
    assert events[-1]["kind"] == "canary_rolled_back"
    assert "error_rate" in events[-1]["reason"]


def _latencies(server: Server, name: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        r = server.predict(name)
        out.append(time.perf_counter() - started)
        assert r.status_code == 200 and r.headers["x-modelplane-variant"] == "production"
    return out


@pytest.mark.slow
def test_shadow_failures_and_slowness_do_not_reach_the_caller(server: Server) -> None:
    http = server.http
    http.post("/api/v1/deployments", json={"name": "mirrored", "model": "mirror"})
    wait_for(lambda: server.predict("mirrored").status_code == 200, what="routing")
    _latencies(server, "mirrored", 50)  # warm
    before = _latencies(server, "mirrored", 300)
    r = http.put("/api/v1/deployments/mirrored/traffic",
                 json={"routes": {"production": 100}, "shadows": ["shadow:2=100"]})
    assert r.status_code == 200, r.text
    wait_for(lambda: http.get("/v2/models/mirrored/versions/2/ready").status_code == 200,
             what="the shadow version to load")
    time.sleep(0.5)
    after = _latencies(server, "mirrored", 300)
    base, shadowed = statistics.median(before), statistics.median(after)
    assert shadowed < base * 1.5 + 0.002, (base, shadowed)
    q90 = statistics.quantiles(before, n=10)[-1]
    assert statistics.quantiles(after, n=10)[-1] < q90 * 2 + 0.005
    stats = wait_for(lambda: (s := http.get("/api/v1/deployments/mirrored/stats").json()[
        "variants"]).get("shadow", {}).get("errors") and s, what="shadow figures")
    assert stats["shadow"]["requests"] > 0 and stats["shadow"]["errors"] > 0
    assert stats["production"]["errors"] == 0


@pytest.mark.slow
def test_sticky_a_b_over_http(server: Server) -> None:
    http = server.http
    r = http.post("/api/v1/deployments", json={
        "name": "ab", "model": "churn", "routes": ["a:1=50", "b:2=50"], "key_field": "user"})
    assert r.status_code == 201, r.text
    wait_for(lambda: http.get("/v2/models/ab/versions/2/ready").status_code == 200
             and http.get("/v2/models/ab/versions/1/ready").status_code == 200,
             what="both variants")
    seen: dict[str, set[str]] = {}
    for i in range(150):
        for key in (f"user-{i}", f"user-{i}"):
            variant = server.predict("ab", key=key).headers["x-modelplane-variant"]
            seen.setdefault(key, set()).add(variant)
        field = http.post("/predict/ab", json={"a": 2.0, "b": 1.0, "user": f"user-{i}"})
        seen[f"user-{i}"].add(field.headers["x-modelplane-variant"])
    assert all(len(v) == 1 for v in seen.values())
    share = sum(v == {"a"} for v in seen.values()) / len(seen)
    assert 0.3 < share < 0.7
    infer = http.post("/v2/models/ab/infer", headers={"x-modelplane-key": "user-3"}, json={
        "inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [2.0]},
                   {"name": "b", "shape": [1], "datatype": "FP64", "data": [1.0]}]})
    assert infer.status_code == 200, infer.text
    assert {infer.headers["x-modelplane-variant"]} == seen["user-3"]
    metrics = http.get("/metrics").text
    assert 'modelplane_deployment_requests_total{deployment="ab",status="200",variant="a",' \
        'version="1"}' in metrics


@pytest.mark.slow
def test_bad_input_is_a_4xx_with_the_reason_and_changes_nothing(server: Server) -> None:
    http = server.http
    assert http.post("/api/v1/deployments", json={"name": "guarded", "model": "churn"}
                     ).status_code == 201
    before = http.get("/api/v1/deployments/guarded").json()
    bad = [
        ("put", "/traffic", {"routes": {"production": 80, "v2": 10}}, 422, "sum to 100"),
        ("put", "/traffic", {"routes": {"production": 90, "v42": 10}}, 404, "version 42"),
        ("post", "/canary", {"version": 2, "gates": ["happiness:max=1"]}, 422,
         "unknown gate metric"),
        ("post", "/canary", {"version": 99}, 404, "99"),
        ("post", "/canary", {"version": 2, "steps": [50, 20]}, 422, "increasing"),
    ]
    for method, path, body, status, message in bad:
        r = getattr(http, method)(f"/api/v1/deployments/guarded{path}", json=body)
        assert r.status_code == status, (path, body, r.text)
        assert message in r.json()["error"]["message"]
        assert http.get("/api/v1/deployments/guarded").json() == before
    assert http.post("/api/v1/deployments/guarded/canary", json={"version": 1, "hold": 600}
                     ).status_code == 201
    during = http.get("/api/v1/deployments/guarded").json()
    # (production holds version 2 since the first test's canary)
    second = http.post("/api/v1/deployments/guarded/canary", json={"version": 1})
    assert second.status_code == 409 and "canary" in second.json()["error"]["message"]
    assert http.get("/api/v1/deployments/guarded").json()["revision"] == during["revision"]
    assert http.post("/api/v1/deployments/guarded/abort", json={"reason": "test"}
                     ).status_code == 200
    assert http.post("/api/v1/deployments", json={"name": "x", "model": "nope"}
                     ).status_code == 404
    assert http.post("/api/v1/deployments", json={"name": "bad name!", "model": "churn"}
                     ).status_code == 422


@pytest.mark.slow
def test_the_cli(home: Path) -> None:
    env = {"MODELPLANE_HOME": str(home)}
    out = cli("deploy", "create", "cli-live", "--model", "mirror", "--route", "production=90",
              "--route", "v2=10", env=env)
    assert out.returncode == 0, out.stderr
    assert "production" in out.stdout and "90%" in out.stdout
    bad = cli("deploy", "set-traffic", "cli-live", "--route", "production=50", env=env)
    assert bad.returncode == 1 and "sum to 100" in bad.stderr
    shown = cli("deploy", "canary", "cli-live", "2", "--gate", "error_rate:max=0.05",
                "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert '"status": "running"' in shown.stdout
    aborted = cli("deploy", "abort", "cli-live", "--reason", "changed my mind", env=env)
    assert aborted.returncode == 0, aborted.stderr
    events = cli("deploy", "events", "cli-live", env=env)
    assert "canary_aborted" in events.stdout and "changed my mind" in events.stdout


@pytest.mark.slow
@pytest.mark.postgres
def test_two_replicas_on_postgres_agree_within_the_stated_delay(
        postgres_url: str, tmp_path: Path) -> None:
    home = tmp_path / "shared"
    client = Client(Settings(home=home, database_url=postgres_url))
    client.log_model(None, _model(2), "churn", input_example=EXAMPLE, stage="production")
    client.log_model(None, _model(3), "churn", input_example=EXAMPLE)
    env = {"MODELPLANE_DATABASE_URL": postgres_url,  # default poll: 1 s, the stated delay
           "MODELPLANE_ALLOW_PICKLE": "true"}
    a, b = start(home, **env), start(home, **env)
    try:
        r = a.http.post("/api/v1/deployments", json={
            "name": "shared", "model": "churn", "routes": ["blue:1=100", "green:2=0"]})
        assert r.status_code == 201, r.text
        for s in (a, b):
            wait_for(lambda s=s: s.http.get("/v2/models/shared/versions/2/ready"
                                            ).status_code == 200, what="green loaded")
        assert {s.predict("shared").headers["x-model-version"] for s in (a, b)} == {"1"}
        switched = time.monotonic()
        assert a.http.post("/api/v1/deployments/shared/switch", json={"to": "green"}
                           ).status_code == 200
        wait_for(lambda: b.predict("shared").headers["x-model-version"] == "2", timeout=10,
                 what="replica b to switch")
        delay = time.monotonic() - switched
        assert delay < 1.0 + 1.0, delay  # the poll interval, plus slack for a busy machine
        # replica a made the change: it routed green before answering the switch
        answers = [s.predict("shared").headers["x-model-version"] for s in (a, b)
                   for _ in range(25)]
        assert set(answers) == {"2"}
        # sticky split: both replicas send every key to the same variant
        assert b.http.put("/api/v1/deployments/shared/traffic",
                          json={"routes": ["blue:1=50", "green:2=50"]}).status_code == 200
        time.sleep(1.5)
        keys = [f"k{i}" for i in range(60)]
        on_a = [a.predict("shared", key=k).headers["x-modelplane-variant"] for k in keys]
        on_b = [b.predict("shared", key=k).headers["x-modelplane-variant"] for k in keys]
        assert on_a == on_b and set(on_a) == {"blue", "green"}
        # the figures a canary's gates read are those of every replica
        assert a.http.post("/api/v1/deployments", json={"name": "counted", "model": "churn"}
                           ).status_code == 201
        for s in (a, b):
            wait_for(lambda s=s: s.http.get("/v2/models/counted/ready").status_code == 200,
                     what="counted ready")
        for s, n in ((a, 30), (b, 20)):
            assert {s.predict("counted").status_code for _ in range(n)} == {200}
        stats = wait_for(lambda: (v := b.http.get("/api/v1/deployments/counted/stats").json()[
            "variants"]) and v["production"]["requests"] == 50 and v, timeout=5,
            what="both replicas' figures")
        assert stats["production"]["errors"] == 0
    finally:
        a.stop()
        b.stop()


@pytest.mark.slow
def test_the_quickstart_canary_tour(tmp_path: Path) -> None:
    from modelplane.cli.canary_tour import canary_tour

    lines: list[str] = []

    class Console:
        def print(self, text: str) -> None:
            lines.append(text)

    summary = canary_tour(Client(Settings(home=tmp_path / "tour")), Console(),
                          steps=(25, 100), hold=0.5, hold_requests=10)
    assert summary["status"] == "succeeded" and summary["failures"] == 0
    assert summary["weights"] == {"production": 100.0}
    assert set(summary["versions"]) == {"1", "2"}
    assert summary["events"][-1] == "canary_succeeded"
    assert any("step 2/2" in line for line in lines)
