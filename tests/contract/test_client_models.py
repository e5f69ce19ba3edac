"""The Python surface end to end: mp.start_run, log_model, load_model, on both backends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import modelplane as mp
from modelplane.core.config import configure
from modelplane.core.errors import (
    IntegrityCheckError,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
)

sklearn = pytest.importorskip("sklearn")


@pytest.fixture
def client(database_url: str, mp_home: Path) -> mp.Client:
    configure(database_url=database_url)
    return mp.Client()


@pytest.fixture(scope="module")
def trained() -> tuple[object, object]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    data = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(data.data, data.target)
    return model, data.data


def test_start_run_context_manager_statuses(client: mp.Client) -> None:
    with mp.start_run("exp", params={"C": 1}) as run:
        run.log_metric("loss", 0.5, step=1)
        with pytest.raises(InvalidStateError, match="nested=True"):
            mp.start_run("exp")
        with mp.start_run("exp", nested=True) as child:
            assert mp.active_run() is child
        assert mp.active_run() is run
    assert client.tracking.get_run(run.id).status == "finished"
    assert client.tracking.get_run(child.id).parent_run_id == run.id
    assert client.tracking.get_run(run.id).metrics == {"loss": 0.5}
    with pytest.raises(RuntimeError), mp.start_run("exp") as failing:
        raise RuntimeError("training crashed")
    assert client.tracking.get_run(failing.id).status == "failed"
    assert mp.active_run() is None


def test_log_model_registers_with_lineage_and_loads_by_every_uri(client: mp.Client,
                                                                 trained: tuple) -> None:
    model, X = trained
    with mp.start_run("exp") as run:
        run.log_dataset(X, name="train")
        run.log_metric("auc", 0.97)
        version = run.log_model(model, "clf", input_example=X.iloc[:5])
    assert version.version == 1 and version.flavor == "sklearn"
    assert version.run_id == run.id and version.metrics == {"auc": 0.97}
    assert [d["role"] for d in version.datasets] == ["train"]
    assert [c["name"] for c in version.signature["inputs"]][:2] == list(X.columns[:2])
    client.registry.set_stage("clf", 1, "production")
    client.registry.set_alias("clf", "champion", 1)
    expected = model.predict(X.iloc[:20])
    for uri in ("models:/clf:1", "models:/clf@champion", "models:/clf@production", "clf:1"):
        loaded = mp.load_model(uri)
        assert np.array_equal(loaded.predict(X.iloc[:20]), expected)
    records = X.iloc[:3].to_dict(orient="records")
    assert np.array_equal(loaded.predict(records), expected[:3])
    bad = X.iloc[:3].drop(columns=[X.columns[4]])
    with pytest.raises(InvalidArgumentError, match=X.columns[4]):
        loaded.predict(bad)
    with pytest.raises(NotFoundError, match="clf"):
        mp.load_model("models:/clf:7")


def test_onnx_conversion_at_log_time(client: mp.Client, trained: tuple) -> None:
    pytest.importorskip("skl2onnx")
    model, X = trained
    with mp.start_run("exp") as run:
        run.log_model(model, "clf-onnx", input_example=X.iloc[:5], onnx=True)
    native = mp.load_model("models:/clf-onnx:1")
    onnx = mp.load_model("models:/clf-onnx:1", format="onnx")
    assert onnx.flavor == "onnx"
    assert np.array_equal(native.predict(X.iloc[:50]), onnx.predict(X.iloc[:50]))
    with pytest.raises(InvalidArgumentError, match="no 'torch' form"):
        mp.load_model("models:/clf-onnx:1", format="torch")


def test_corrupted_artifact_is_refused(client: mp.Client, trained: tuple,
                                       mp_home: Path) -> None:
    model, X = trained
    with mp.start_run("exp") as run:
        version = run.log_model(model, "clf", input_example=X.iloc[:5])
    for entry in client.artifacts.read_tree(version.artifact_digest):
        if entry["path"].endswith(".pkl") or entry["size"] > 1000:
            digest = entry["digest"]
            blob = mp_home / "artifacts" / "blobs" / digest[:2] / digest[2:]
            blob.write_bytes(b"not the model")
            break
    with pytest.raises(IntegrityCheckError, match="corrupt"):
        mp.load_model("models:/clf:1")


def test_deleting_versions_removes_unreferenced_artifacts(client: mp.Client,
                                                          trained: tuple) -> None:
    model, X = trained
    with mp.start_run("exp") as run:
        v1 = run.log_model(model, "clf", input_example=X.iloc[:5])
    v2 = client.registry.create_version("clf", artifact_digest=v1.artifact_digest,
                                        flavor="sklearn", model_meta=v1.model_meta)
    client.registry.delete_version("clf", v1.version)
    assert client.artifacts.exists(v1.artifact_digest)  # v2 still uses it
    client.registry.delete_version("clf", v2.version)
    assert not client.artifacts.exists(v1.artifact_digest)


EXIT_SCRIPT = textwrap.dedent("""
    import sys
    import modelplane as mp
    mp.configure(home=sys.argv[1], database_url=sys.argv[2])
    run = mp.start_run("exp")
    for step in range(500):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    print(run.id, flush=True)
    if sys.argv[3] == "crash":
        raise SystemError("boom")
""")


@pytest.mark.parametrize(("mode", "status"), [("exit", "finished"), ("crash", "failed")])
def test_interpreter_exit_flushes_and_closes_open_runs(client: mp.Client, mp_home: Path,
                                                       database_url: str, mode: str,
                                                       status: str) -> None:
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(mp_home), database_url, mode],
                            capture_output=True, text=True, timeout=120)
    run_id = result.stdout.strip()
    run = client.tracking.get_run(run_id)
    assert run.status == status
    assert len(client.tracking.metric_history(run_id, "loss")) == 500
