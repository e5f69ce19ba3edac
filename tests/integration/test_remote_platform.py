"""The CLI and the Python client as remote clients of a live ``modelplane server``:
deployments (every ``modelplane deploy`` command), monitoring (health, drift, the log,
labels uploaded from a CSV, references, rules, alerts, the HTML report), ``info`` naming
the server, the token sent on every request, and the commands that cannot work remotely
saying so in one line. The client's home holds no database and no artifacts."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import LiveServer, cli, spawn_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("remote-server")
    live = spawn_server(env={"MODELPLANE_HOME": str(home),
                             "MODELPLANE_DEPLOYMENT_POLL_SECONDS": "0.5",
                             "MODELPLANE_ALERT_INTERVAL_SECONDS": "3600"})
    yield live
    stop_server(live)


@pytest.fixture
def client_env(server: LiveServer, tmp_path: Path) -> dict[str, str]:
    return {"MODELPLANE_SERVER_URL": server.url, "MODELPLANE_HOME": str(tmp_path / "laptop")}


def _frame(n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"a": rng.normal(size=n) + shift, "b": rng.normal(size=n)})


@pytest.fixture
def client(client_env: dict[str, str]) -> Iterator[object]:
    """The Python client of the same laptop (closed after the test)."""
    from modelplane.client import Client
    from modelplane.core.config import Settings

    with Client(Settings(home=Path(client_env["MODELPLANE_HOME"]),
                         server_url=client_env["MODELPLANE_SERVER_URL"])) as remote:
        yield remote


def _train(client: object, name: str, versions: int = 2) -> None:
    from sklearn.linear_model import LogisticRegression

    X = _frame(300)
    y = (X.a + X.b > 0).astype(int)
    for _ in range(versions):
        client.log_model(None, LogisticRegression().fit(X, y), name,  # type: ignore[attr-defined]
                         input_example=X[:5])
    client.registry.set_stage(name, 1, "production")  # type: ignore[attr-defined]


@pytest.mark.slow
def test_every_deploy_command_remotely(client: object, client_env: dict[str, str],
                                       tmp_path: Path) -> None:
    _train(client, "remote-dep", versions=3)
    env = client_env

    def ok(*args: str) -> str:
        out = cli(*args, env=env)
        assert out.returncode == 0, (args, out.stderr)
        return out.stdout

    assert "90%" in ok("deploy", "create", "rd", "--model", "remote-dep", "--route",
                       "production=90", "--route", "v2=10")
    assert "rd" in ok("deploy", "list")
    assert json.loads(ok("deploy", "show", "rd", "--json"))["versions"] == {
        "production": 1, "v2": 2}
    bad = cli("deploy", "set-traffic", "rd", "--route", "production=50", env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("error:") and "sum to 100" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    ok("deploy", "set-traffic", "rd", "--route", "production=100")
    canary = json.loads(ok("deploy", "canary", "rd", "3", "--gate", "error_rate:max=0.05",
                           "--json"))
    assert canary["canary"]["status"] == "running"
    ok("deploy", "abort", "rd", "--reason", "changed my mind")
    ok("deploy", "switch", "rd", "2")
    ok("deploy", "switch-back", "rd")
    ok("deploy", "promote", "rd", "--variant", "production")
    assert json.loads(ok("deploy", "stats", "rd", "--json")) == {}  # no traffic yet
    events = ok("deploy", "events", "rd")
    for kind in ("created", "traffic", "canary_started", "canary_aborted", "switched",
                 "switched_back", "promoted"):
        assert kind in events, kind
    data = tmp_path / "eval.csv"
    _frame(50).assign(target=0).to_csv(data, index=False)
    ok("deploy", "gates", "set", "remote-dep", "--gate", "accuracy:min=0.1", "--dataset",
       str(data))
    assert json.loads(ok("deploy", "gates", "show", "remote-dep"))["gates"]
    ok("deploy", "gates", "delete", "remote-dep")
    ok("deploy", "delete", "rd")
    gone = cli("deploy", "show", "rd", env=env)
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    laptop = Path(env["MODELPLANE_HOME"])
    assert not list(laptop.glob("*.db")) and not (laptop / "artifacts").exists()


@pytest.mark.slow
def test_monitoring_remotely_from_served_traffic(server: LiveServer, client: object,
                                                 client_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    _train(client, "remote-mon", versions=1)
    env = client_env
    mon = client.monitoring  # type: ignore[attr-defined]
    ref = mon.set_reference("remote-mon", _frame(500))
    assert ref.layout.feature_names == ("a", "b") and ref.num_rows == 500
    client.deployments.create("rm", "remote-mon")  # type: ignore[attr-defined]
    ids: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        deadline = time.monotonic() + 30
        while not ids:  # the server picks the deployment up on its next poll
            r = http.post("/predict/rm", json={"a": 3.0, "b": 0.5})
            if r.status_code == 200:
                ids.append(r.headers["x-request-id"])
            elif time.monotonic() > deadline:
                raise AssertionError(r.text)
            else:
                time.sleep(0.2)
        for row in _frame(59, shift=3.0).to_dict(orient="records"):
            ids.append(http.post("/predict/rm", json=row).headers["x-request-id"])
    deadline = time.monotonic() + 30
    while mon.health("remote-mon", "1h").overall.requests < 60:
        assert time.monotonic() < deadline, "the prediction log never caught up"
        time.sleep(0.3)

    health = json.loads(cli("monitor", "health", "remote-mon", "--json", env=env).stdout)
    assert health["overall"]["requests"] == 60
    drift = mon.drift("remote-mon", "1h")
    assert drift.result.column("a").drifted and drift.reference.id == ref.id
    assert "a" in cli("monitor", "drift", "remote-mon", env=env).stdout
    log = json.loads(cli("monitor", "predictions", "remote-mon", "--limit", "5", "--json",
                         env=env).stdout)
    assert len(log) == 5 and log[0]["model"] == "remote-mon"

    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["request_id", "label"])
        writer.writerows([[i, 1] for i in ids] + [["ghost", 0]])
    out = cli("monitor", "labels", "remote-mon", str(labels), env=env)
    assert out.returncode == 0, out.stderr
    assert "60 label(s) joined; 1 for unknown request ids: ghost" in out.stdout
    assert mon.performance("remote-mon", "1h").overall.labelled == 60

    shown = json.loads(cli("monitor", "reference", "remote-mon", "--json", env=env).stdout)
    assert shown["features"] == ["a", "b"] and shown["id"] == ref.id
    added = cli("monitor", "rules", "add", "remote-mon", "drifty", "--metric", "drift_share",
                "--threshold", "0.1", env=env)
    assert added.returncode == 0, added.stderr
    assert "drifty" in cli("monitor", "rules", "list", "remote-mon", env=env).stdout
    fired = cli("monitor", "rules", "evaluate", "remote-mon", env=env)
    assert "fired remote-mon/drifty" in fired.stdout, fired.stderr
    assert json.loads(cli("monitor", "alerts", "remote-mon", "--json", env=env).stdout)[0][
        "rule_name"] == "drifty"
    html = tmp_path / "report.html"
    report = cli("monitor", "report", "remote-mon", "--html", str(html), env=env)
    assert report.returncode == 0, report.stderr
    assert "<html" in html.read_text().lower()
    assert cli("monitor", "rules", "delete", "remote-mon", "drifty", env=env).returncode == 0
    unknown = cli("monitor", "health", "no-such-model", env=env)
    assert unknown.returncode == 1 and "no model 'no-such-model'" in unknown.stderr


def test_info_names_the_server_and_the_token_goes_with_every_request(
        server: LiveServer, client_env: dict[str, str]) -> None:
    out = cli("info", "--json", env={**client_env, "MODELPLANE_TOKEN": "s3cret"})
    facts = json.loads(out.stdout)
    assert facts["mode"] == "remote" and facts["server_url"] == server.url
    assert facts["token"] == "set (MODELPLANE_TOKEN)" and "s3cret" not in out.stdout

    from modelplane.remote.http import RemoteTransport

    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"status": "ok"})

    transport = RemoteTransport(server.url, token="s3cret", transport=httpx.MockTransport(answer))
    transport.get("/health")
    transport.post("/runs", {})
    assert seen == ["Bearer s3cret", "Bearer s3cret"]
    anonymous = RemoteTransport(server.url, transport=httpx.MockTransport(answer))
    anonymous.get("/health")
    assert seen[-1] is None


def test_a_down_server_is_one_line(tmp_path: Path) -> None:
    from tests.integration.conftest import free_port

    env = {"MODELPLANE_SERVER_URL": f"http://127.0.0.1:{free_port()}",
           "MODELPLANE_HOME": str(tmp_path / "laptop")}
    for args in (("deploy", "list"), ("monitor", "health", "m")):
        out = cli(*args, env=env)
        assert out.returncode == 1, args
        assert out.stderr.startswith("error: cannot reach the modelplane server at ")
        assert len(out.stderr.strip().splitlines()) == 1
