"""``modelplane import mlflow``: a store the real mlflow client builds (SQLite and a local
artifact root) is copied record for record and file for file; a second import adds
nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from tests.integration.conftest import cli
from tests.mlflow_env import mlflow_python

SCRIPTS = Path(__file__).parent / "mlflow_scripts"


def test_import_copies_everything_once(tmp_path: Path) -> None:
    work = tmp_path / "mlflow"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    env.update(GIT_PYTHON_REFRESH="quiet", MLFLOW_DISABLE_TELEMETRY="true")
    built = subprocess.run([str(mlflow_python()), str(SCRIPTS / "build_store.py"), str(work)],
                           capture_output=True, text=True, env=env, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    run_id = json.loads(built.stdout.strip().splitlines()[-1])["run_id"]
    args = ["import", "mlflow", "--from", f"sqlite:///{work}/mlflow.db",
            "--artifact-root", str(work / "artifacts")]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    assert "1 runs" in first.stdout and "1 model versions" in first.stdout

    from modelplane.client import Client

    client = Client()
    run = client.tracking.get_run(run_id)
    assert run.name == "old-run" and run.status == "finished"
    assert run.params == {"C": "1.0", "solver": "lbfgs"} and run.tags["team"] == "risk"
    history = client.tracking.metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    stored = {a.path: a.digest for a in client.tracking.list_artifacts(run_id)}
    root = next((work / "artifacts").glob(f"**/{run_id}/artifacts"))
    expected = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in root.rglob("*") if p.is_file()}
    assert stored == expected and "docs/report.txt" in stored
    version = client.registry.get_by_alias("imported-model", "champion")
    assert version.stage == "production" and version.run_id == run_id
    assert client.registry.get_model("imported-model").tags == {"owner": "ml"}
    from sklearn.datasets import load_iris

    X = load_iris(as_frame=True).data.head(3)
    assert len(client.load_model("models:/imported-model@champion").predict(X)) == 3

    second = cli(*args)
    assert second.returncode == 0, second.stderr
    assert "added: nothing new" in second.stdout
    assert len(client.registry.list_versions("imported-model").items) == 1
