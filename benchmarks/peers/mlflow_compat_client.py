"""The MLflow-compatibility workload: one script, run by the real mlflow client (in
``.venv-mlflow``) against whatever server ``MLFLOW_TRACKING_URI`` names (``mlflow server``
or ``modelplane server``). Prints one JSON object: median seconds per round trip, and
what the calls returned, so the driver can check both servers answered the same.

Usage: python mlflow_compat_client.py REPEAT SEARCH_RUNS
"""

from __future__ import annotations

import itertools
import json
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param  # noqa: E402

SEARCH = "metrics.acc > 0.5 and params.C = '3'"


def median(fn: Callable[[], Any], repeat: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def register(client: MlflowClient) -> str:
    """A small scikit-learn model logged and registered, aliased ``champion``."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    with mlflow.start_run(run_name="model"):
        info = mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y),
                                        name="model", registered_model_name="bench-model")
    version = str(info.registered_model_version)
    client.set_registered_model_alias("bench-model", "champion", version)
    return version


def main() -> None:
    repeat, n_runs = int(sys.argv[1]), int(sys.argv[2])
    client = MlflowClient()
    exp = mlflow.set_experiment("mlflow-compat-bench").experiment_id
    now = int(time.time() * 1000)
    for i in range(n_runs):  # the corpus the search runs over
        run = client.create_run(exp, run_name=f"r{i}")
        client.log_batch(run.info.run_id, metrics=[Metric("acc", i / n_runs, now, 0)],
                         params=[Param("C", str(i % 10))])
        client.set_terminated(run.info.run_id)
    rid = client.create_run(exp, run_name="timed").info.run_id
    out: dict[str, Any] = {"mlflow_version": mlflow.__version__}
    step = itertools.count()
    out["log_metric_s"] = median(lambda: client.log_metric(rid, "loss", 0.5, step=next(step)),
                                 repeat)
    batch_steps = itertools.count()

    def log_batch() -> None:  # 100 metric points, 10 params and 10 tags per call
        base = next(batch_steps)
        client.log_batch(rid, metrics=[Metric(f"m{i % 10}", float(i), now, base * 10 + i // 10)
                                       for i in range(100)],
                         params=[Param(f"p{base}_{i}", str(i)) for i in range(10)])

    out["log_batch_s"] = median(log_batch, repeat)
    found: list[Any] = []
    out["search_s"] = median(lambda: found.__setitem__(slice(None), client.search_runs(
        [exp], SEARCH, order_by=["metrics.acc DESC"], max_results=100)), repeat)
    out["search_found"] = [r.info.run_name for r in found]
    version = register(client)
    got: list[Any] = [None]
    out["get_by_alias_s"] = median(lambda: got.__setitem__(0, client.get_model_version_by_alias(
        "bench-model", "champion")), repeat)
    out["alias_version"] = [version, got[0].version]
    out["history_points"] = len(client.get_metric_history(rid, "loss"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
