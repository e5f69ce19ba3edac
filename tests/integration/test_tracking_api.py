"""The tracking REST API (``/api/v1/experiments``, ``/api/v1/runs``...) against the real
server under uvicorn: one server for the module, each test in its own experiment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import free_port

API = "/api/v1"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tracking-api") / "mphome"


@pytest.fixture(scope="module")
def api(home: Path) -> Iterator[httpx.Client]:
    """A client of ``modelplane server`` running on its own home (started once)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MODELPLANE_") or k.startswith("MODELPLANE_TEST_")}
    env["MODELPLANE_HOME"] = str(home)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane", "server", "--port", str(port),
         "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                if httpx.get(f"{url}{API}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with httpx.Client(base_url=url + API, timeout=30) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error  # type: ignore[no-any-return]


def _run(api: httpx.Client, experiment: str, **fields: Any) -> dict[str, Any]:
    return _ok(api.post("/runs", json={"experiment": experiment, **fields}), 201)  # type: ignore[no-any-return]


def test_experiment_lifecycle(api: httpx.Client) -> None:
    created = _ok(api.post("/experiments", json={"name": "exp-a", "description": "first",
                                                  "tags": {"team": "ml"}}), 201)
    assert created["lifecycle"] == "active" and created["tags"] == {"team": "ml"}
    assert created["created_at"].endswith("Z")
    assert _ok(api.get(f"/experiments/{created['id']}"))["name"] == "exp-a"
    assert _error(api.post("/experiments", json={"name": "exp-a"}), 409)["code"] == \
        "already_exists"

    renamed = _ok(api.patch("/experiments/exp-a", json={"name": "exp-b", "description": "x"}))
    assert (renamed["id"], renamed["name"], renamed["description"]) == \
        (created["id"], "exp-b", "x")
    assert "exp-b" in [e["name"] for e in _ok(api.get("/experiments"))]

    assert _ok(api.delete("/experiments/exp-b"))["lifecycle"] == "deleted"
    assert "exp-b" not in [e["name"] for e in _ok(api.get("/experiments"))]
    assert "exp-b" in [e["name"] for e in _ok(api.get("/experiments?include_deleted=true"))]
    assert _ok(api.post("/experiments/exp-b/restore"))["lifecycle"] == "active"

    missing = _error(api.get("/experiments/no-such-exp"), 404)
    assert "no-such-exp" in missing["message"]
    assert _error(api.post("/experiments", json={"name": " padded "}), 422)["details"][
        "field"] == "name"


def test_run_logging_round_trip(api: httpx.Client) -> None:
    run = _run(api, "exp-log", name="first", params={"C": 1.0, "kernel": "rbf"},
               tags={"team": "a"}, host="trainer-1", pid=4242, code_commit="abc123")
    rid = run["id"]
    assert run["status"] == "running" and run["params"] == {"C": "1.0", "kernel": "rbf"}
    assert (run["host"], run["pid"], run["code_commit"]) == ("trainer-1", 4242, "abc123")

    _ok(api.post(f"/runs/{rid}/log-batch", json={
        "metrics": [{"key": "loss", "value": 0.9, "step": 0},
                    {"key": "loss", "value": 0.5, "step": 1,
                     "timestamp": "2024-05-01T12:00:00+02:00"},
                    {"key": "auc", "value": 0.7, "step": 1}],
        "params": {"depth": 3}, "tags": {"stage": "dev"}}), 204)
    _ok(api.post(f"/runs/{rid}/metrics", json={"key": "loss", "value": 0.25, "step": 2}), 204)
    _ok(api.post(f"/runs/{rid}/metrics", json=[{"key": "auc", "value": 0.8, "step": 2},
                                               {"key": "acc", "value": 1}]), 204)
    _ok(api.put(f"/runs/{rid}/params", json={"lr": 0.01}), 204)
    _ok(api.put(f"/runs/{rid}/tags", json={"team": "b", "extra": "x"}), 204)
    _ok(api.delete(f"/runs/{rid}/tags/extra"), 204)

    got = _ok(api.get(f"/runs/{rid}"))
    assert got["metrics"] == {"loss": 0.25, "auc": 0.8, "acc": 1.0}
    assert got["params"] == {"C": "1.0", "kernel": "rbf", "depth": "3", "lr": "0.01"}
    assert got["tags"] == {"team": "b", "stage": "dev"}

    history = _ok(api.get(f"/runs/{rid}/metrics/loss/history"))
    assert [(p["step"], p["value"]) for p in history] == [(0, 0.9), (1, 0.5), (2, 0.25)]
    assert history[1]["timestamp"] == "2024-05-01T10:00:00Z"

    ended = _ok(api.patch(f"/runs/{rid}", json={"status": "finished", "name": "renamed"}))
    assert (ended["status"], ended["name"]) == ("finished", "renamed")
    assert ended["end_time"] is not None and ended["end_time"].endswith("Z")
    reopened = _ok(api.patch(f"/runs/{rid}", json={"status": "running"}))
    assert reopened["status"] == "running" and reopened["end_time"] is None


def test_param_conflict_is_409_and_writes_nothing(api: httpx.Client) -> None:
    rid = _run(api, "exp-conflict", params={"C": "1"})["id"]
    error = _error(api.post(f"/runs/{rid}/log-batch", json={
        "metrics": [{"key": "auc", "value": 0.5}], "params": {"new": "v", "C": "2"},
        "tags": {"t": "1"}}), 409)
    assert error["details"]["field"] == "params.C" and "'1'" in error["message"]
    assert _error(api.put(f"/runs/{rid}/params", json={"C": "3"}), 409)["code"] == \
        "invalid_state"
    got = _ok(api.get(f"/runs/{rid}"))
    assert (got["params"], got["metrics"], got["tags"]) == ({"C": "1"}, {}, {})
    _ok(api.put(f"/runs/{rid}/params", json={"C": "1"}), 204)  # same value: fine


def test_bad_input_is_4xx_naming_what(api: httpx.Client) -> None:
    rid = _run(api, "exp-bad")["id"]
    bad_value = _error(api.post(f"/runs/{rid}/log-batch", json={
        "metrics": [{"key": "auc", "value": 0.1}, {"key": "auc", "value": "high"}]}), 422)
    assert "'auc'" in bad_value["message"]
    assert bad_value["details"]["field"] == "metrics.auc"
    for value in (True, None, [1]):
        error = _error(api.post(f"/runs/{rid}/metrics", json={"key": "f1", "value": value}),
                       422)
        assert "'f1'" in error["message"]
    assert _ok(api.get(f"/runs/{rid}"))["metrics"] == {}
    # a diverged loss is data, not an error: NaN is stored and comes back as null
    nan = api.post(f"/runs/{rid}/metrics", content=b'{"key": "loss", "value": NaN}',
                   headers={"content-type": "application/json"})
    assert nan.status_code == 204, nan.text
    assert _ok(api.get(f"/runs/{rid}"))["metrics"] == {"loss": None}
    history = _ok(api.get(f"/runs/{rid}/metrics/loss/history"))
    assert [point["value"] for point in history] == [None]

    assert "step" in _error(api.post(f"/runs/{rid}/metrics", json={
        "key": "x", "value": 1, "step": "two"}), 422)["message"]
    assert "metric key" in _error(api.post(f"/runs/{rid}/metrics", json={
        "key": "bad key!", "value": 1}), 422)["message"]
    assert _error(api.patch(f"/runs/{rid}", json={"status": "done"}), 422)["message"] \
        .startswith("status:")
    assert _error(api.put(f"/runs/{rid}/params", json={"nested": {"a": 1}}), 422)[
        "message"] == "nested: expected a string, number or boolean, got dict"
    assert _error(api.post(f"/runs/{rid}/log-batch", json={"tags": {"t": None}}), 422)[
        "message"] == "tags.t: expected a string, number or boolean, got null"
    assert _error(api.post("/runs", content=b"{not json",
                           headers={"content-type": "application/json"}), 422)
    assert _error(api.get("/runs/search?max_results=0"), 422)["details"]["field"] == \
        "max_results"

    for response in (api.get("/runs/nope"), api.post("/runs/nope/log-batch", json={}),
                     api.post("/runs/nope/log-batch", json={"params": {"a": 1}}),
                     api.post("/runs/nope/metrics", json={"key": "a", "value": 1}),
                     api.get("/runs/nope/metrics/a/history"), api.get("/runs/nope/artifacts"),
                     api.get("/runs/nope/datasets"), api.delete("/runs/nope/tags/a"),
                     api.patch("/runs/nope", json={"status": "failed"}),
                     api.put("/runs/nope/artifacts/a.txt", content=b"x")):
        assert "'nope'" in _error(response, 404)["message"], response.request.url
    assert "no metric 'missing'" in _error(
        api.get(f"/runs/{rid}/metrics/missing/history"), 404)["message"]


def test_search_get_and_post(api: httpx.Client) -> None:
    ids = {}
    for name, auc, c, team in (("a", 0.9, "1", "x"), ("b", 0.8, "2", "y"),
                               ("c", 0.7, "3", "y"), ("d", 0.2, "1", "y")):
        run = _run(api, "exp-search", name=name, params={"C": c}, tags={"team": team})
        _ok(api.post(f"/runs/{run['id']}/metrics", json={"key": "auc", "value": auc}), 204)
        ids[name] = run["id"]
    _run(api, "exp-search-other", name="elsewhere", params={"C": "1"})

    query = "metrics.auc > 0.5 and (params.C = '1' or tags.team = 'y')"
    got = _ok(api.get("/runs/search", params={
        "filter": query, "experiment": ["exp-search", "exp-search-other"],
        "order_by": "metrics.auc desc"}))
    assert [r["name"] for r in got["runs"]] == ["a", "b", "c"]
    posted = _ok(api.post("/runs/search", json={"filter": query, "experiments": ["exp-search"],
                                                "order_by": "metrics.auc desc"}))
    assert posted == got

    first = _ok(api.post("/runs/search", json={"experiments": ["exp-search"], "max_results": 3,
                                               "order_by": "name"}))
    rest = _ok(api.post("/runs/search", json={"experiments": ["exp-search"], "max_results": 3,
                                              "order_by": "name",
                                              "page_token": first["next_page_token"]}))
    assert [r["name"] for r in first["runs"] + rest["runs"]] == ["a", "b", "c", "d"]
    assert rest["next_page_token"] is None

    syntax = _error(api.get("/runs/search", params={"filter": "metrics.auc > 0.5 and ("}), 422)
    assert syntax["details"]["position"] == len("metrics.auc > 0.5 and (")
    assert _error(api.post("/runs/search", json={"filter": "params.C === '1'"}), 422)[
        "details"]["position"] == len("params.C ==")

    deleted = _ok(api.delete(f"/runs/{ids['a']}"))
    assert deleted["lifecycle"] == "deleted"
    names = [r["name"] for r in _ok(api.get("/runs/search", params={
        "filter": query, "experiment": "exp-search"}))["runs"]]
    assert "a" not in names and len(names) == 2
    assert len(_ok(api.post("/runs/search", json={
        "filter": query, "experiments": ["exp-search"], "include_deleted": True}))["runs"]) == 3
    assert _ok(api.get(f"/runs/{ids['a']}"))["lifecycle"] == "deleted"  # still readable
    _ok(api.post(f"/runs/{ids['a']}/restore"))
    assert len(_ok(api.get("/runs/search", params={"filter": query}))["runs"]) >= 3


def test_artifact_upload_list_download(api: httpx.Client) -> None:
    rid = _run(api, "exp-artifacts")["id"]
    data = os.urandom(3 * 1024 * 1024 + 17)
    chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))  # streamed upload
    stored = _ok(api.put(f"/runs/{rid}/artifacts/model/weights.bin", content=chunks), 201)
    assert (stored["path"], stored["size"], stored["is_dir"]) == \
        ("model/weights.bin", len(data), False)
    _ok(api.put(f"/runs/{rid}/artifacts/notes.txt", content=b"hello"), 201)

    listed = _ok(api.get(f"/runs/{rid}/artifacts"))
    assert [a["path"] for a in listed] == ["model/weights.bin", "notes.txt"]
    download = api.get(f"/runs/{rid}/artifacts/model/weights.bin")
    assert download.status_code == 200 and download.content == data
    assert download.headers["etag"] == f'"{stored["digest"]}"'
    assert api.get(f"/runs/{rid}/artifacts/notes.txt").text == "hello"

    for bad in ("a/%2E%2E/%2E%2E/etc/passwd", "%2E%2E/x", "a/%2E/b", "a%2F..%2Fb"):
        assert _error(api.put(f"/runs/{rid}/artifacts/{bad}", content=b"x"), 422)[
            "details"]["field"] == "artifact_path"
        assert _error(api.get(f"/runs/{rid}/artifacts/{bad}"), 422)
    assert len(_ok(api.get(f"/runs/{rid}/artifacts"))) == 2
    assert "'missing.txt'" in _error(api.get(f"/runs/{rid}/artifacts/missing.txt"), 404)[
        "message"]


def test_folder_artifacts_and_datasets(api: httpx.Client, home: Path, tmp_path: Path) -> None:
    """Seeded in this process on the server's home, read over HTTP."""
    import pandas as pd

    from modelplane.client import Client
    from modelplane.core.config import Settings

    folder = tmp_path / "report"
    (folder / "plots").mkdir(parents=True)
    (folder / "index.html").write_text("<html/>")
    (folder / "plots" / "roc.png").write_bytes(b"\x89PNG")
    client = Client(Settings(home=home))
    with client.start_run("exp-datasets") as run:
        run.log_artifacts(folder, "report")
        run.log_dataset(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "a"]}),
                        name="train", role="train")
    client.database.dispose()

    tree = _ok(api.get(f"/runs/{run.id}/artifacts/report"))
    assert tree["is_dir"] and [f["path"] for f in tree["files"]] == \
        ["index.html", "plots/roc.png"]
    assert [f["path"] for f in _ok(api.get(f"/runs/{run.id}/artifacts/report/plots"))[
        "files"]] == ["roc.png"]
    assert api.get(f"/runs/{run.id}/artifacts/report/plots/roc.png").content == b"\x89PNG"

    (linked,) = _ok(api.get(f"/runs/{run.id}/datasets"))
    assert (linked["name"], linked["role"], linked["num_rows"]) == ("train", "train", 3)
    assert [c["name"] for c in linked["schema"]] == ["x", "y"]
    detail = _ok(api.get(f"/datasets/{linked['digest']}"))
    assert detail["schema"] == linked["schema"] and detail["profile"]
    assert _error(api.get(f"/datasets/{'0' * 64}"), 404)["code"] == "not_found"


def test_fail_stale_marks_runs_whose_process_is_gone(api: httpx.Client) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = socket.gethostname()
    stale = _run(api, "exp-stale", host=host, pid=int(gone.stdout))["id"]
    alive = _run(api, "exp-stale", host=host, pid=os.getpid())["id"]
    remote = _run(api, "exp-stale")["id"]  # no host/pid given: never judged stale
    failed = [r["id"] for r in _ok(api.post("/runs/fail-stale"))]
    assert stale in failed and alive not in failed and remote not in failed
    assert _ok(api.get(f"/runs/{stale}"))["status"] == "failed"
    assert _ok(api.get(f"/runs/{alive}"))["status"] == "running"


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_oversized_upload_is_413_and_leaves_nothing(mp_home: Path) -> None:
    """In process (TestClient): a streamed body over the limit stops the upload."""
    from fastapi.testclient import TestClient

    from modelplane.client import Client
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    settings = Settings(max_upload_bytes=100_000)
    rid = Client(settings).tracking.start_run("exp-limit").id
    with TestClient(create_app(settings)) as client:
        response = client.put(f"{API}/runs/{rid}/artifacts/big.bin",
                              content=iter([b"x" * 60_000] * 3))
        assert response.status_code == 413, response.text
        assert client.get(f"{API}/runs/{rid}/artifacts").json() == []
    tmp = mp_home / "artifacts" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
