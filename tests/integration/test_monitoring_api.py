"""Monitoring over real HTTP: predictions, references, labels, health, drift, alert
rules with a webhook against a real local HTTP server, and the ``monitor`` CLI."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.conftest import LiveServer, cli, free_port

API = "/api/v1/monitoring"


class Hook:
    """A local webhook receiver that answers 500 to the first ``failures`` requests."""

    def __init__(self, failures: int) -> None:
        self.failures, self.bodies = failures, []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                hook.bodies.append(json.loads(body))
                code = 500 if len(hook.bodies) <= hook.failures else 200
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook(failures=2)
    yield h
    h.server.shutdown()
    h.server.server_close()


def records(n: int, shift: float, version: int = 1) -> list[dict[str, Any]]:
    rng = np.random.default_rng(n)
    return [{"request_id": f"q{version}-{i}", "version": version,
             "inputs": {"x": float(rng.normal(shift)), "c": str(rng.choice(["a", "b", "z"]))},
             "outputs": {"prediction": i % 2, "probability": 0.9 if i % 2 else 0.1},
             "latency_s": 0.002, "status": "error" if i % 10 == 0 else "ok"}
            for i in range(n)]


def test_monitoring_over_http(start_server: Callable[..., LiveServer], hook: Hook,
                              tmp_path: Path) -> None:
    # the test's own receivers listen on loopback, which webhooks refuse unless allowed
    server = start_server(env={"MODELPLANE_WEBHOOK_ALLOW": "127.0.0.1"})
    rng = np.random.default_rng(0)
    with server.client() as http:
        r = http.get(f"{API}/churn/drift")
        assert r.status_code == 404 and "has no reference profile" in r.json()["error"]["message"]
        r = http.put(f"{API}/churn/reference", json={"data": {
            "x": rng.normal(size=3000).tolist(), "c": rng.choice(["a", "b"], 3000).tolist()}})
        assert r.status_code == 200 and r.json()["features"] == ["x", "c"]
        r = http.post(f"{API}/churn/predictions", json={"records": records(400, 1.0)})
        assert r.status_code == 201 and r.json() == {"accepted": 400}

        r = http.get(f"{API}/churn/predictions", params={"limit": 2})
        assert r.status_code == 200, r.text
        logged = r.json()["predictions"]
        assert [p["request_id"] for p in logged] == ["q1-399", "q1-398"]
        assert logged[0]["inputs"]["c"] in ("a", "b", "z") and logged[0]["labelled"] is False
        r = http.get(f"{API}/churn/predictions", params={"request_id": "q1-7"})
        assert [p["outputs"]["prediction"] for p in r.json()["predictions"]] == [1]
        for params in ({"limit": 0}, {"limit": 10_001}, {"window": "soon"}):
            r = http.get(f"{API}/churn/predictions", params=params)
            assert r.status_code == 422 and r.json()["error"]["details"], params
        health = http.get(f"{API}/churn/health", params={"window": "1h"}).json()
        assert health["overall"]["requests"] == 400
        assert health["overall"]["error_rate"] == pytest.approx(0.1)
        assert health["versions"][0]["version"] == 1

        drift = http.get(f"{API}/churn/drift", params={"window": "15m"}).json()
        cols = {c["column"]: c for c in drift["columns"]}
        assert cols["x"]["drifted"] and cols["c"]["unseen"] > 0 and drift["dataset_drift"]

        labels = [{"request_id": f"q1-{i}", "label": i % 2} for i in range(100)]
        labels += [{"request_id": "nobody", "label": 1}]
        r = http.post(f"{API}/churn/labels", json={"labels": labels})
        assert r.json() == {"accepted": 100, "unknown": 1, "unknown_request_ids": ["nobody"]}
        perf = http.get(f"{API}/churn/performance").json()
        assert perf["overall"]["labelled"] == 100
        assert perf["overall"]["metrics"]["accuracy"] == 1.0

        r = http.get(f"{API}/churn/health", params={"window": "fortnight"})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "window"
        r = http.post(f"{API}/churn/rules", json={"name": "x", "metric": "vibes",
                                                  "threshold": 1})
        assert r.status_code == 422 and "unknown metric 'vibes'" in r.json()["error"]["message"]

        page = http.get(f"{API}/churn/report", params={"format": "html"})
        assert page.status_code == 200 and "<svg" in page.text

        # a webhook that fails twice is retried and then succeeds
        rule = {"name": "errors", "metric": "error_rate", "threshold": 0.05, "window": "1h",
                "actions": [{"type": "webhook", "url": hook.url, "retries": 3,
                             "backoff_s": 0.05}]}
        assert http.post(f"{API}/churn/rules", json=rule).status_code == 201
        fired = http.post(f"{API}/churn/rules/evaluate", params={"wait": True}).json()["alerts"]
        assert [a["rule_name"] for a in fired] == ["errors"]
        assert fired[0]["status"] == "ok" and fired[0]["actions"][0]["attempts"] == 3
        assert len(hook.bodies) == 3 and hook.bodies[-1]["alert"]["rule_name"] == "errors"
        assert hook.bodies[-1]["alert"]["value"] == pytest.approx(0.1)

        # a webhook that is down never blocks the evaluation, and is recorded as failed
        down = f"http://127.0.0.1:{free_port()}/hook"
        rule = {"name": "down", "metric": "drift_share", "threshold": 0.1, "cooldown": 0,
                "actions": [{"type": "webhook", "url": down, "retries": 2, "backoff_s": 0.3}]}
        assert http.post(f"{API}/churn/rules", json=rule).status_code == 201
        started = time.monotonic()
        fired = http.post(f"{API}/churn/rules/evaluate").json()["alerts"]
        assert time.monotonic() - started < 0.8  # retries take >= 0.9 s; the call did not wait
        assert [a["status"] for a in fired] == ["pending"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            alerts = http.get(f"{API}/churn/alerts", params={"rule": "down"}).json()["alerts"]
            if alerts[0]["status"] != "pending":
                break
            time.sleep(0.1)
        assert alerts[0]["status"] == "failed"
        assert alerts[0]["actions"][0]["attempts"] == 3
        assert "ConnectError" in alerts[0]["actions"][0]["error"]

    out = cli("monitor", "report", "churn", "--window", "1h", "--html",
              str(tmp_path / "report.html"))
    assert out.returncode == 0, out.stderr
    assert "health of churn" in out.stdout and "drift of churn" in out.stdout
    assert "<svg" in (tmp_path / "report.html").read_text()
    out = cli("monitor", "alerts", "churn", "--json")
    assert out.returncode == 0 and {a["rule_name"] for a in json.loads(out.stdout)} == {
        "errors", "down"}
    bad = cli("monitor", "health", "churn", "--window", "soon")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: window: cannot parse 'soon'")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_monitor_cli_labels_rules_and_reference(tmp_path: Path) -> None:
    from modelplane.client import Client

    monitoring = Client().monitoring
    monitoring.log_predictions([{**r, "model": "m"} for r in records(50, 0.0)])
    data = tmp_path / "ref.csv"
    data.write_text("x,c\n" + "\n".join(f"{i / 10},a" for i in range(100)))
    out = cli("monitor", "reference", "m", "--data", str(data))
    assert out.returncode == 0 and "features: x, c" in out.stdout, out.stderr
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nq1-1,1\nq1-2,0\nghost,1\n")
    out = cli("monitor", "labels", "m", str(labels))
    assert out.returncode == 0 and out.stdout.startswith("2 label(s) joined; 1 for unknown")
    out = cli("monitor", "rules", "add", "m", "slow", "--metric", "latency_p99",
              "--threshold", "0.001")
    assert out.returncode == 0, out.stderr
    out = cli("monitor", "rules", "evaluate", "m")
    assert out.returncode == 0 and "fired m/slow: latency_p99" in out.stdout
    out = cli("monitor", "rules", "add", "m", "x", "--metric", "f1", "--threshold", "1",
              "--action", '{"type": "teleport"}')
    assert out.returncode == 1 and "unknown action 'teleport'" in out.stderr
    out = cli("monitor", "drift", "m", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["n_current"] == 50
    out = cli("monitor", "predictions", "m", "--limit", "3")
    assert out.returncode == 0, out.stderr
    assert "3 row(s), newest first" in out.stdout and "q1-49" in out.stdout
    out = cli("monitor", "predictions", "m", "--request-id", "q1-1", "--json")
    [row] = json.loads(out.stdout)
    assert (row["request_id"], row["label"], row["labelled"]) == ("q1-1", 1, True)
    out = cli("monitor", "predictions", "m", "--limit", "0")
    assert out.returncode == 1 and out.stderr.startswith("error: limit must be an integer")
