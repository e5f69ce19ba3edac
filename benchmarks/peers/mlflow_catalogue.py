"""The catalogue workload on MLflow (run by the MLflow benchmark venv's Python).

Usage: python mlflow_catalogue.py WORKDIR [--quick] [--db URL]; prints one JSON object.
Without ``--db`` MLflow uses a SQLite file in WORKDIR.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workload import (
    SEARCH_FILTER,
    median_time,
    paired_overhead,
    run_metrics,
    run_params,
    training_data,
)


def main() -> None:
    workdir, quick = sys.argv[1], "--quick" in sys.argv
    db = sys.argv[sys.argv.index("--db") + 1] if "--db" in sys.argv else None
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.makedirs(workdir, exist_ok=True)
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    uri = db or f"sqlite:///{workdir}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()
    exp = client.create_experiment("bench", artifact_location=f"file://{workdir}/artifacts")
    out: dict[str, float] = {"version": mlflow.__version__}  # type: ignore[dict-item]
    run = client.create_run(exp)
    rid = run.info.run_id
    n = 20 if quick else 60
    step = iter(range(10**9))
    out["log_metric_s"] = median_time(lambda: client.log_metric(rid, "loss", 0.5, step=next(step)),
                                      n)
    batch = [Metric(f"b{i % 10}", float(i), int(time.time() * 1000), i) for i in range(1000)]
    per_batch = median_time(lambda: client.log_batch(rid, metrics=batch), 3 if quick else 8, 1)
    out["log_batch_metrics_per_s"] = 1000 / per_batch

    runs = 200 if quick else 1000
    for i in range(runs):
        r = client.create_run(exp)
        client.log_batch(r.info.run_id,
                         metrics=[Metric(k, v, 0, 0) for k, v in run_metrics(i).items()],
                         params=[mlflow.entities.Param(k, v) for k, v in run_params(i).items()])
    out["search_runs"] = runs
    out["search_runs_s"] = median_time(
        lambda: client.search_runs([exp], SEARCH_FILTER, max_results=1000), 3 if quick else 5, 1)

    client.create_registered_model("bench-model")
    source = f"file://{workdir}/artifacts/m"
    out["create_version_s"] = median_time(
        lambda: client.create_model_version("bench-model", source, run_id=rid), n)
    versions = iter(range(1, 10**6))
    out["set_alias_s"] = median_time(
        lambda: client.set_registered_model_alias("bench-model", "champion",
                                                  str(next(versions))), n)
    out["get_by_alias_s"] = median_time(
        lambda: client.get_model_version_by_alias("bench-model", "champion"), n * 3)

    model, X, _ = training_data()
    mlflow.set_experiment(experiment_id=exp)
    counter = iter(range(10**6))

    def log_model() -> None:
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name=f"model{next(counter)}",
                                     registered_model_name="rf", input_example=X.iloc[:5],
                                     skops_trusted_types=["sklearn.tree._tree.Tree"])

    out["log_model_s"] = median_time(log_model, 1 if quick else 3, 0)
    loaded = mlflow.pyfunc.load_model("models:/rf/1")
    row = X.iloc[:1]
    out["predict_overhead_s"] = paired_overhead(lambda: model.predict(row),
                                                lambda: loaded.predict(row),
                                                200 if quick else 500)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
