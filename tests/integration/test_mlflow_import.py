"""``modelplane import mlflow``: a store the real mlflow client builds is copied record for
record and file for file, read from its database (SQLite and a local artifact root) or
from a live ``mlflow server`` (REST and its artifact proxy); a second import adds
nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import cli, free_port
from tests.mlflow_env import mlflow_python

SCRIPTS = Path(__file__).parent / "mlflow_scripts"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MODELPLANE_", "PYTHONPATH", "MLFLOW_"))}
    env.update(GIT_PYTHON_REFRESH="quiet", MLFLOW_DISABLE_TELEMETRY="true")
    return env


def _build(work: Path, server: str | None = None) -> str:
    built = subprocess.run([str(mlflow_python()), str(SCRIPTS / "build_store.py"), str(work),
                            *([server] if server else [])],
                           capture_output=True, text=True, env=_env(), timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    return str(json.loads(built.stdout.strip().splitlines()[-1])["run_id"])


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def _import_twice_and_check(args: list[str], run_id: str, artifacts: Path) -> None:
    first = cli("import", "mlflow", *args)
    assert first.returncode == 0, first.stderr
    assert "1 runs" in first.stdout and "1 model versions" in first.stdout
    assert "1 datasets" in first.stdout

    from modelplane.client import Client

    client = Client()
    run = client.tracking.get_run(run_id)
    assert run.name == "old-run" and run.status == "finished"
    assert run.params == {"C": "1.0", "solver": "lbfgs"} and run.tags["team"] == "risk"
    history = client.tracking.metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert [(d.name, d.role) for d in client.tracking.run_datasets(run_id)] == \
        [("iris-train", "training")]
    stored = {a.path: a.digest for a in client.tracking.list_artifacts(run_id)}
    assert stored == _digests(next(artifacts.glob(f"**/{run_id}/artifacts")))
    assert "docs/report.txt" in stored
    version = client.registry.get_by_alias("imported-model", "champion")
    assert version.stage == "production" and version.run_id == run_id
    assert version.tags == {"validated": "yes"} and version.description == "first"
    assert client.registry.get_model("imported-model").tags == {"owner": "ml"}
    model_files = {e["path"].removeprefix("model/"): e["digest"]
                   for e in client.artifacts.read_tree(version.artifact_digest)
                   if e["path"] != "model/modelplane.json"}
    assert model_files == _digests(next(artifacts.glob("**/MLmodel")).parent)
    from sklearn.datasets import load_iris

    X = load_iris(as_frame=True).data.head(3)
    assert len(client.load_model("models:/imported-model@champion").predict(X)) == 3

    second = cli("import", "mlflow", *args)
    assert second.returncode == 0, second.stderr
    assert "added: nothing new" in second.stdout
    assert len(client.registry.list_versions("imported-model").items) == 1
    assert len(client.tracking.metric_history(run_id, "loss")) == 3


def test_import_from_the_database_copies_everything_once(tmp_path: Path) -> None:
    work = tmp_path / "mlflow"
    work.mkdir()
    run_id = _build(work)
    _import_twice_and_check(["--from", f"sqlite:///{work}/mlflow.db",
                             "--artifact-root", str(work / "artifacts")], run_id,
                            work / "artifacts")


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real ``mlflow server`` (SQLite, artifacts proxied) on a free loopback port."""
    port, store = free_port(), tmp_path / "server"
    store.mkdir()
    with (store / "server.log").open("w") as log:
        proc = subprocess.Popen(
            [str(mlflow_python()), "-m", "mlflow", "server", "--backend-store-uri",
             f"sqlite:///{store}/mlflow.db", "--artifacts-destination", str(store / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=_env(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (store / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not start"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield url, store / "artifacts"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.timeout(1200)  # an mlflow server, the client script and two imports
def test_import_from_a_tracking_server_copies_everything_once(
        tmp_path: Path, mlflow_server: tuple[str, Path]) -> None:
    url, artifacts = mlflow_server
    run_id = _build(tmp_path, url)
    _import_twice_and_check(["--from", url], run_id, artifacts)


def test_import_refuses_a_source_it_cannot_read(tmp_path: Path) -> None:
    odd = cli("import", "mlflow", "--from", "ftp://somewhere")
    assert odd.returncode != 0 and "--from" in odd.stderr and "Traceback" not in odd.stderr
    down = cli("import", "mlflow", "--from", f"http://127.0.0.1:{free_port()}")
    assert down.returncode != 0 and "unreachable" in down.stderr
    assert "Traceback" not in down.stderr
    empty = tmp_path / "empty.db"
    empty.touch()
    not_mlflow = cli("import", "mlflow", "--from", f"sqlite:///{empty}")
    assert not_mlflow.returncode != 0 and "not an MLflow tracking database" in \
        not_mlflow.stderr
