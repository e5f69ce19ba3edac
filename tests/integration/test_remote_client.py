"""Remote client mode against the real server: a training job on "another machine" (a
subprocess with only ``MODELPLANE_SERVER_URL`` and an empty HOME) tracks, registers,
promotes and loads a model; the server's embedded client then finds everything.
Errors come back as the same exceptions with the same messages; blob uploads are
verified by the server; capabilities without a REST path refuse clearly.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import modelplane as mp
from modelplane.core.errors import PayloadTooLargeError
from tests.integration.conftest import LiveServer, cli, free_port

TRAINING_JOB = textwrap.dedent("""
    import json, os, sys
    import numpy as np, pandas as pd
    from sklearn.linear_model import LogisticRegression
    import modelplane as mp

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X.a + X.b > 0).astype(int)
    os.makedirs("plots", exist_ok=True)
    open("plots/roc.txt", "w").write("roc")
    open("notes.txt", "w").write("remote notes")
    with mp.start_run(experiment="remote", params={"C": 1.0}, tags={"team": "far"}) as run:
        for step in range(300):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metrics({"auc": 0.91, "nan": float("nan")}, step=300)
        run.log_dataset(X, name="train")
        run.log_artifact("notes.txt")
        run.log_artifacts("plots")
        try:
            run.log_param("C", 2.0)
            conflict = None
        except mp.InvalidStateError as exc:
            conflict = exc.message
        model = LogisticRegression().fit(X, y)
        mv = run.log_model(model, "remote-clf", input_example=X[:5])
    client = mp.Client()
    client.registry.set_stage("remote-clf", mv.version, "production")
    loaded = mp.load_model("models:/remote-clf@production")
    json.dump({"run_id": run.id, "version": mv.version, "conflict": conflict,
               "remote": client.remote,
               "predicted": loaded.predict(X[:20]).tolist(),
               "expected": model.predict(X[:20]).tolist()}, sys.stdout)
""")


UPLOAD_LIMIT = 1_000_000


class SharedServer(LiveServer):
    def __init__(self, proc: subprocess.Popen[str], url: str, home: Path) -> None:
        super().__init__(proc, url)
        self.home = home


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    """One SQLite server for the module (a server takes seconds to start); tests use
    their own names in it. Its home is ``shared.home``."""
    home = tmp_path_factory.mktemp("server-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    env.update(MODELPLANE_HOME=str(home), MODELPLANE_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT))
    log = home / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "modelplane", "server", "--port",
                                 str(port), "--log-level", "warning"], env=env, text=True,
                                stdout=out, stderr=subprocess.STDOUT)
    server = SharedServer(proc, f"http://127.0.0.1:{port}", home)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(server):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()}")
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _healthy(server: LiveServer) -> bool:
    try:
        return httpx.get(f"{server.url}/api/v1/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _far_env(home: Path, server_url: str) -> dict[str, str]:
    """Another machine: no modelplane setting but the server URL, a HOME of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    return {**env, "HOME": str(home), "MODELPLANE_SERVER_URL": server_url}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_training_job_elsewhere_lands_on_the_server(
        backend: str, shared: SharedServer, start_server: Callable[..., LiveServer],
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if backend == "postgres":  # a server of its own on a fresh database, home mp_home
        database = str(request.getfixturevalue("postgres_url"))
        server = start_server(env={"MODELPLANE_DATABASE_URL": database})
        mp.configure(database_url=database)
    else:
        server = shared
        mp.configure(home=shared.home)
    far = tmp_path / "far"
    far.mkdir()
    job = subprocess.run([sys.executable, "-c", TRAINING_JOB], cwd=far, text=True,
                         capture_output=True, env=_far_env(far, server.url), timeout=120)
    assert job.returncode == 0, job.stderr
    out = json.loads(job.stdout)
    assert out["remote"] is True
    assert out["predicted"] == out["expected"]
    assert out["conflict"] and "params are immutable" in out["conflict"]
    # nothing of the catalogue lives on the far side: only the verified model cache
    assert sorted(p.name for p in (far / ".modelplane").iterdir()) == ["cache"]

    embedded = mp.Client()
    run = embedded.tracking.get_run(out["run_id"])
    assert (run.status, run.params, run.tags["team"]) == ("finished", {"C": "1.0"}, "far")
    assert run.metrics["auc"] == 0.91 and run.metrics["loss"] == 1.0 / 300
    history = embedded.tracking.metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(300))
    [dataset] = embedded.tracking.run_datasets(run.id)
    assert (dataset.name, dataset.num_rows, dataset.role) == ("train", 200, "train")
    artifacts = {a.path: a for a in embedded.tracking.list_artifacts(run.id)}
    assert set(artifacts) == {"notes.txt", "plots"} and artifacts["plots"].is_dir
    assert embedded.artifacts.get_bytes(artifacts["notes.txt"].digest) == b"remote notes"
    got = embedded.tracking.download_artifact(run.id, "plots", tmp_path / "plots")
    assert (got / "roc.txt").read_text() == "roc"

    version = embedded.registry.resolve("models:/remote-clf@production")
    assert (version.version, version.run_id) == (out["version"], run.id)
    assert version.datasets[0]["name"] == "train" and version.metrics["auc"] == 0.91
    assert embedded.artifacts.verify(version.artifact_digest)
    model = embedded.load_model("models:/remote-clf@production")
    import pandas as pd

    frame = pd.DataFrame({"a": [2.0, -2.0], "b": [1.0, -1.0]})
    assert model.predict(frame).tolist() == [1, 0]


@pytest.fixture
def server(shared: SharedServer) -> SharedServer:
    """The shared server; the embedded client of this test opens its home."""
    mp.configure(home=shared.home)
    return shared


@pytest.fixture
def remote(server: SharedServer) -> Iterator[mp.Client]:
    mp.configure(server_url=server.url)
    with mp.Client() as client:
        yield client


def _error(call: Callable[..., object], *args: object) -> mp.ModelplaneError:
    with pytest.raises(mp.ModelplaneError) as caught:
        call(*args)
    return caught.value


def test_errors_are_the_embedded_errors(remote: mp.Client) -> None:
    embedded = mp.Client(remote=False)  # the server's own database, opened here
    for call in (lambda c: c.registry.get_model("no-such-model"),
                 lambda c: c.registry.resolve("models:/no-such-model@champion"),
                 lambda c: c.tracking.get_run("no-such-run"),
                 lambda c: c.tracking.search_runs("metrics.auc > and")):
        far, near = _error(call, remote), _error(call, embedded)
        assert type(far) is type(near)
        assert (far.message, far.details) == (near.message, near.details)
    assert isinstance(_error(lambda: remote.registry.get_model("no-such-model")),
                      mp.NotFoundError)

    with remote.start_run("errors", params={"C": 1}) as run:
        conflict = _error(lambda: run.log_param("C", 2))
    assert isinstance(conflict, mp.InvalidStateError)
    assert conflict.details == {"field": "params.C", "existing": "1", "given": "2"}
    near = _error(lambda: embedded.tracking.log_params(run.id, {"C": 2}))
    assert conflict.message == near.message

    # the server parses the filter: its syntax error keeps the position
    bad = _error(lambda: remote.http.get("/runs/search", filter="metrics.auc >"))
    assert isinstance(bad, mp.InvalidArgumentError)
    assert bad.details["position"] == len("metrics.auc >")


def test_buffered_metrics_leave_in_batches(remote: mp.Client,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from modelplane.remote.tracking import RemoteTrackingStore

    calls: list[int] = []
    log_batch = RemoteTrackingStore.log_batch

    def counting(self: RemoteTrackingStore, run_id: str, rows: list, *args: object) -> None:
        calls.append(len(rows))
        log_batch(self, run_id, rows, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(RemoteTrackingStore, "log_batch", counting)
    with remote.start_run("batched") as run:
        for step in range(2000):  # each new step wakes the flusher: it sends what it has
            run.log_metrics({"loss": 1 / (step + 1), "acc": step / 2000}, step=step)
    assert sum(calls) == 4000 and len(calls) <= 40, calls  # hundreds of points a request
    found = remote.tracking.search_runs("metrics.acc > 0.99", experiments=["batched"])
    assert [r.id for r in found.runs] == [run.id]
    assert len(remote.tracking.metric_history(run.id, "loss")) == 2000


def test_what_has_no_rest_path_refuses_clearly(remote: mp.Client, server: SharedServer) -> None:
    for capability in ("features", "pipelines"):  # (monitoring, deployments: remote)
        error = _error(getattr, remote, capability)
        assert isinstance(error, mp.ConfigurationError)
        assert error.message.endswith("is not available in remote mode yet; unset "
                                      "MODELPLANE_SERVER_URL to use it embedded")
    assert "does not open the metadata database" in _error(lambda: remote.database).message
    info = cli("info", "--json", env={"MODELPLANE_SERVER_URL": server.url})
    facts = json.loads(info.stdout)
    assert (facts["mode"], facts["server_status"], facts["server_database_backend"]) == (
        "remote", "ok", "sqlite")


def test_server_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    mp.configure(server_url=url)
    with mp.Client() as client:
        error = _error(lambda: client.registry.get_model("churn"))
    assert isinstance(error, mp.StorageUnavailableError)
    assert error.message.startswith(f"cannot reach the modelplane server at {url}")
    info = cli("info", env={"MODELPLANE_SERVER_URL": url})
    assert info.returncode == 1
    assert info.stderr.startswith(f"error: cannot reach the modelplane server at {url}")
    assert len(info.stderr.strip().splitlines()) == 1


def test_blob_uploads_are_verified_and_bounded(remote: mp.Client, server: SharedServer,
                                               tmp_path: Path) -> None:
    body = b"model bytes " * 100
    digest = hashlib.sha256(body).hexdigest()
    wrong = hashlib.sha256(b"something else").hexdigest()
    with httpx.Client(base_url=f"{server.url}/api/v1/artifacts/blobs") as http:
        mismatch = http.put(f"/{wrong}", content=body)
        assert mismatch.status_code == 422
        assert mismatch.json()["error"]["details"]["actual"] == digest
        assert http.head(f"/{wrong}").status_code == 404
        assert http.head(f"/{digest}").status_code == 404  # not kept under its real one
        assert http.put("/not-a-digest", content=body).status_code == 422
        half = b"x" * (UPLOAD_LIMIT // 2 + 1)
        too_big = http.put(f"/{hashlib.sha256(half * 2).hexdigest()}", content=iter([half, half]))
        assert too_big.status_code == 413
    assert list((server.home / "artifacts" / "tmp").iterdir()) == []

    assert remote.artifacts.put_bytes(body) == digest
    assert remote.artifacts.exists(digest) and remote.artifacts.size(digest) == len(body)
    assert remote.artifacts.get_bytes(digest) == body
    assert isinstance(_error(lambda: remote.artifacts.put_bytes(b"y" * (UPLOAD_LIMIT + 1))),
                      PayloadTooLargeError)

    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    (folder / "b.txt").write_text("b")
    tree = remote.artifacts.put_dir(folder)
    assert tree == mp.Client(remote=False).artifacts.put_dir(folder)  # the same manifest
    assert {e["path"] for e in remote.artifacts.read_tree(tree)} == {"sub/a.txt", "b.txt"}
    copy = remote.artifacts.get_dir(tree, tmp_path / "copy")
    assert (copy / "sub" / "a.txt").read_text() == "a"

    with remote.start_run("records") as run:
        incomplete = {"format": "modelplane.tree/1", "files": [
            {"path": "gone.bin", "digest": wrong, "size": 3}]}
        manifest = remote.artifacts.put_bytes(json.dumps(incomplete).encode())
        refused = _error(lambda: remote.http.post(
            f"/runs/{run.id}/artifacts", {"path": "gone", "digest": manifest, "is_dir": True}))
    assert isinstance(refused, mp.InvalidArgumentError) and refused.details["missing"] == wrong


def test_a_server_started_with_a_server_url_stays_embedded(
        start_server: Callable[..., LiveServer]) -> None:
    """The variable remote clients use, left in a server's environment, must not make the
    server a client of itself (it would wait on its own answers)."""
    server = start_server("--serve", "models:/nothing@production",
                          env={"MODELPLANE_SERVER_URL": "http://127.0.0.1:9"})
    with server.client() as http:
        assert http.get("/api/v1/health", timeout=10).status_code == 200
        assert http.get("/api/v1/models", timeout=10).status_code == 200
        assert http.get("/api/v1/experiments", timeout=10).status_code == 200
