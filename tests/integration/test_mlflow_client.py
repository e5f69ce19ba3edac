"""The real mlflow client (its own venv, see tests/mlflow_env.py) against a live
``modelplane server``: everyday MLflow code runs unchanged, and what it logged is read
back through modelplane's own API."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelplane.core.errors import PermissionDeniedError
from tests.integration.conftest import LiveServer, spawn_server, stop_server
from tests.mlflow_env import mlflow_python

SCRIPTS = Path(__file__).parent / "mlflow_scripts"
NATIVE = "iris-native"


def _settings(home: Path) -> Any:
    from modelplane.core.config import Settings

    return Settings(home=home)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    home = tmp_path_factory.mktemp("mlflow-compat") / "home"
    live = spawn_server(env={"MODELPLANE_HOME": str(home)})
    try:
        yield live, home
    finally:
        stop_server(live)


@pytest.fixture(scope="module")
def flow(server: tuple[LiveServer, Path], tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, Any]:
    """Run the MLflow client script once for the module (a native model first, so the
    script can load it through MLflow)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from modelplane.client import Client

    live, home = server
    X, y = load_iris(return_X_y=True, as_frame=True)
    client = Client(_settings(home))
    version = client.log_model(None, LogisticRegression(max_iter=300).fit(X, y), NATIVE,
                               input_example=X.head(3))
    client.registry.set_alias(NATIVE, "champion", version.version)
    work = tmp_path_factory.mktemp("mlflow-work")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    env.update(MLFLOW_TRACKING_URI=live.url, MLFLOW_ENABLE_ASYNC_LOGGING="false",
               GIT_PYTHON_REFRESH="quiet", MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true")
    done = subprocess.run([str(mlflow_python()), str(SCRIPTS / "client_flow.py"), str(work),
                           NATIVE], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["native_expected"] = client.load_model(f"models:/{NATIVE}@champion").predict(
        [{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4,
          "petal width (cm)": 0.2}]).tolist()
    return result


def test_tracking_calls_land_in_modelplane_runs(flow: dict[str, Any],
                                                server: tuple[LiveServer, Path]) -> None:
    from modelplane.client import Client

    run = Client(_settings(server[1])).tracking.get_run(flow["run_id"])
    assert run.name == "first" and run.status == "finished"
    assert run.params == {"C": "0.5", "solver": "lbfgs", "max_iter": "200"}
    assert run.metrics == {"loss": 0.2, "acc": 0.9, "f1": 0.8}
    assert run.tags["team"] == "risk"
    assert flow["history"] == [[0, 1.0], [1, 0.5], [2, 1 / 3], [3, 0.25], [4, 0.2]]
    client = Client(_settings(server[1]))
    steps = [m.step for m in client.tracking.metric_history(flow["run_id"], "loss")]
    assert steps == [0, 1, 2, 3, 4]
    datasets = client.tracking.run_datasets(flow["run_id"])
    assert [(d.name, d.role) for d in datasets] == [("iris", "training")]


def test_artifacts_go_through_the_proxy(flow: dict[str, Any],
                                        server: tuple[LiveServer, Path]) -> None:
    assert flow["notes"] == "hello from mlflow\n"
    assert flow["artifacts"] == ["notes.txt", "plots"]
    assert flow["plot_files"] == ["plots/a.txt", "plots/b.txt"]
    with httpx.Client(base_url=server[0].url) as http:
        files = http.get(f"/api/v1/runs/{flow['run_id']}/artifacts").json()
        assert {"notes.txt", "plots/a.txt", "plots/b.txt"} <= {f["path"] for f in files}
        assert http.get(f"/api/v1/runs/{flow['run_id']}/artifacts/notes.txt").text == \
            "hello from mlflow\n"


def test_registered_mlflow_model_is_a_modelplane_model(flow: dict[str, Any],
                                                       server: tuple[LiveServer, Path]) -> None:
    from modelplane.client import Client

    client = Client(_settings(server[1]))
    version = client.registry.get_by_alias("iris-mlflow", "champion")
    assert str(version.version) == flow["alias_version"] == flow["model_version"]
    assert version.flavor == "mlflow" and version.run_id == flow["run_id"]
    assert version.pickled is False  # MLflow 3 saves scikit-learn with skops
    pickled = client.registry.get_latest_version("iris-pickle")
    assert pickled.pickled is True  # serialization_format="cloudpickle"
    assert pickled.model_meta["extra"]["mlflow_conf"]["serialization_format"] == "cloudpickle"
    assert version.model_meta["extra"]["mlflow_flavor"] == "sklearn"
    assert version.signature["inputs"][0]["name"] == "sepal length (cm)"
    assert version.metrics["acc"] == 0.9  # lineage: the run's metrics at registration
    assert version.stage == "staging" and version.tags == {"validated": "yes"}
    assert flow["version"] == {"stage": "Staging", "tags": {"validated": "yes"},
                               "description": "from mlflow", "aliases": ["champion"],
                               "run_id": flow["run_id"]}
    from sklearn.datasets import load_iris

    X = load_iris(as_frame=True).data.head(5)
    assert client.load_model("models:/iris-mlflow@champion").predict(X).tolist() == \
        flow["expected"]
    assert flow["predicted"] == flow["expected"]
    with pytest.raises(PermissionDeniedError, match="allow_pickle"):  # a cloudpickle model
        client.load_model(f"models:/iris-pickle:{pickled.version}")
    assert client.load_model(f"models:/iris-pickle:{pickled.version}", allow_pickle=True
                             ).predict(X).tolist() == flow["expected"]


def test_native_model_loads_in_mlflow(flow: dict[str, Any]) -> None:
    assert flow["native_predicted"] == flow["native_expected"]


def test_search_filters_and_ordering(flow: dict[str, Any]) -> None:
    assert flow["search_filtered"] == [flow["run_id"]]
    assert flow["search_ordered"][:2] == ["second", "first"]
    assert flow["search_by_name"] == [flow["second_run_id"]]
    assert flow["registered_models"] == ["iris-pickle", "iris-native", "iris-mlflow"]
    assert flow["search_versions"] == [flow["model_version"]]


def test_autologging_a_scikit_learn_fit(flow: dict[str, Any],
                                        server: tuple[LiveServer, Path]) -> None:
    from modelplane.client import Client

    run = Client(_settings(server[1])).tracking.get_run(flow["autolog_run_id"])
    assert run.params["C"] == "0.7" == flow["autolog_params"]["C"]
    assert "training_accuracy_score" in run.metrics
    assert "training_accuracy_score" in flow["autolog_metrics"]


def test_unsupported_calls_answer_in_mlflow_format(flow: dict[str, Any],
                                                   server: tuple[LiveServer, Path]) -> None:
    assert flow["rename_error"] == "NOT_IMPLEMENTED"
    with httpx.Client(base_url=server[0].url) as http:
        answer = http.post("/api/2.0/mlflow/traces/search", json={})
        assert answer.status_code == 501
        assert answer.json()["error_code"] == "NOT_IMPLEMENTED"
        bad = http.post("/api/2.0/mlflow/runs/log-metric", json={"run_id": flow["run_id"]})
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        missing = http.get("/api/2.0/mlflow/runs/get", params={"run_id": "0" * 32})
        assert missing.status_code == 404
        assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        conflict = http.post("/api/2.0/mlflow/runs/log-parameter",
                             json={"run_id": flow["run_id"], "key": "C", "value": "9"})
        assert conflict.status_code == 400
        assert conflict.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        bad_filter = http.post("/api/2.0/mlflow/runs/search",
                               json={"filter": "metrics.acc >> 1"})
        assert bad_filter.status_code == 400


def test_runs_get_and_search_return_each_metric_at_its_latest_step(
        flow: dict[str, Any], server: tuple[LiveServer, Path]) -> None:
    """As MLflow does: the latest point per key, with its own step and timestamp."""
    with httpx.Client(base_url=server[0].url) as http:
        run = http.get("/api/2.0/mlflow/runs/get", params={"run_id": flow["run_id"]}
                       ).json()["run"]
        found = http.post("/api/2.0/mlflow/runs/search",
                          json={"experiment_ids": [flow["experiment_id"]],
                                "filter": "attributes.run_name = 'first'"}).json()["runs"]
    for metrics in (run["data"]["metrics"], found[0]["data"]["metrics"]):
        assert {m["key"]: (m["step"], m["value"]) for m in metrics} == \
            {"loss": (4, 0.2), "acc": (5, 0.9), "f1": (5, 0.8)}
        assert all(m["timestamp"] >= run["info"]["start_time"] for m in metrics)
