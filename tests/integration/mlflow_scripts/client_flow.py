"""Everyday MLflow client code, run by the real mlflow package (in .venv-mlflow) against
the server in MLFLOW_TRACKING_URI. Prints one JSON object of what it saw.

Usage: python client_flow.py WORKDIR NATIVE_MODEL_NAME
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


def main() -> None:
    workdir, native = sys.argv[1], sys.argv[2]
    out: dict = {}
    exp = mlflow.set_experiment("mlflow-compat")
    out["experiment_id"] = exp.experiment_id
    iris = load_iris(as_frame=True)
    X, y = iris.data, iris.target
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("C", 0.5)
        mlflow.log_params({"solver": "lbfgs", "max_iter": 200})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=5)
        mlflow.set_tag("team", "risk")
        notes = os.path.join(workdir, "notes.txt")
        with open(notes, "w") as fh:
            fh.write("hello from mlflow\n")
        mlflow.log_artifact(notes)
        folder = os.path.join(workdir, "plots")
        os.makedirs(folder, exist_ok=True)
        for name in ("a.txt", "b.txt"):
            with open(os.path.join(folder, name), "w") as fh:
                fh.write(name)
        mlflow.log_artifacts(folder, artifact_path="plots")
        dataset = mlflow.data.from_pandas(X.assign(target=y), name="iris", targets="target")
        mlflow.log_input(dataset, context="training")
        model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(3),
                                        registered_model_name="iris-mlflow")
        mlflow.sklearn.log_model(model, name="pickled", serialization_format="cloudpickle",
                                 registered_model_name="iris-pickle")
        out["run_id"] = run.info.run_id
        out["model_version"] = info.registered_model_version
    out["expected"] = model.predict(X.head(5)).tolist()

    with mlflow.start_run(run_name="second") as second:
        mlflow.log_param("C", 2.0)
        mlflow.log_metric("acc", 0.95)
        out["second_run_id"] = second.info.run_id

    client = MlflowClient()
    client.set_registered_model_alias("iris-mlflow", "champion", out["model_version"])
    mv = client.get_model_version_by_alias("iris-mlflow", "champion")
    out["alias_version"] = mv.version
    client.set_model_version_tag("iris-mlflow", mv.version, "validated", "yes")
    client.update_model_version("iris-mlflow", mv.version, description="from mlflow")
    client.transition_model_version_stage("iris-mlflow", mv.version, "Staging")
    got = client.get_model_version("iris-mlflow", mv.version)
    out["version"] = {"stage": got.current_stage, "tags": got.tags,
                      "description": got.description, "aliases": list(got.aliases),
                      "run_id": got.run_id}
    out["history"] = [(m.step, m.value) for m in client.get_metric_history(out["run_id"],
                                                                            "loss")]
    out["artifacts"] = sorted(f.path for f in client.list_artifacts(out["run_id"]))
    out["plot_files"] = sorted(f.path for f in client.list_artifacts(out["run_id"], "plots"))
    local = client.download_artifacts(out["run_id"], "notes.txt", workdir)
    with open(local) as fh:
        out["notes"] = fh.read()

    found = mlflow.search_runs(experiment_names=["mlflow-compat"],
                               filter_string="params.C = '0.5' and metrics.acc > 0.5",
                               output_format="list")
    out["search_filtered"] = [r.info.run_id for r in found]
    ordered = mlflow.search_runs(experiment_ids=[exp.experiment_id],
                                 order_by=["metrics.acc DESC"], output_format="list")
    out["search_ordered"] = [r.info.run_name for r in ordered]
    named = client.search_runs([exp.experiment_id],
                               filter_string="attributes.run_name = 'second' and "
                               "attributes.status = 'FINISHED'")
    out["search_by_name"] = [r.info.run_id for r in named]
    models = client.search_registered_models(filter_string="name LIKE 'iris%'",
                                             order_by=["name DESC"])
    out["registered_models"] = [m.name for m in models]
    out["search_versions"] = [v.version for v in client.search_model_versions(
        "name = 'iris-mlflow'")]

    loaded = mlflow.pyfunc.load_model("models:/iris-mlflow@champion")
    out["predicted"] = np.asarray(loaded.predict(X.head(5))).tolist()

    native_model = mlflow.pyfunc.load_model(f"models:/{native}@champion")
    frame = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=list(X.columns))
    out["native_predicted"] = np.asarray(native_model.predict(frame)).tolist()

    mlflow.sklearn.autolog(log_models=False)
    with mlflow.start_run(run_name="autologged") as auto:
        LogisticRegression(C=0.7, max_iter=300).fit(X, y)
    mlflow.sklearn.autolog(disable=True)
    out["autolog_run_id"] = auto.info.run_id
    data = client.get_run(auto.info.run_id).data
    out["autolog_params"] = data.params
    out["autolog_metrics"] = sorted(data.metrics)

    try:
        client.rename_registered_model("iris-mlflow", "renamed")
    except mlflow.exceptions.MlflowException as exc:
        out["rename_error"] = exc.error_code
    print(json.dumps(out))


if __name__ == "__main__":
    main()
