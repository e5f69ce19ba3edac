"""One client process of the remote-load benchmark: ``python remote_load_child.py
{modelplane|mlflow} {writer|reader|setup} URL INDEX POINTS``.

A writer prints ``ready``, waits for a line on stdin, logs POINTS metric points in
batches (the client's own batching: modelplane's buffered ``log_metric``; MLflow's
``log_batch`` of 1,000, its limit) and one small scikit-learn model, then prints a JSON
line of its timings. A reader prints ``ready``, waits, then searches runs and gets a
version by alias in turn until stdin closes, and prints its latencies. Run by the
modelplane venv or the MLflow venv (it imports only the one it is given).
"""

from __future__ import annotations

import json
import sys
import time

KEYS = 10


def _model() -> object:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))


def _wait() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def mp_writer(url: str, index: int, points: int) -> dict[str, float]:
    import modelplane as mp

    mp.configure(server_url=url)
    client = mp.Client()
    model = _model()
    _wait()
    start = time.perf_counter()
    with client.start_run("load", name=f"writer-{index}") as run:
        for step in range(points // KEYS):
            run.log_metrics({f"m{k}": step * 0.001 + k for k in range(KEYS)}, step=step)
        run.flush()
        metrics_done = time.perf_counter()
        import numpy as np

        run.log_model(model, f"load-{index}", input_example=np.zeros((2, 4)))
    end = time.perf_counter()
    return {"start": start, "metrics_s": metrics_done - start, "model_s": end - metrics_done,
            "points": points // KEYS * KEYS}


def mlflow_writer(url: str, index: int, points: int) -> dict[str, float]:
    import mlflow
    from mlflow.entities import Metric

    mlflow.set_tracking_uri(url)
    client = mlflow.MlflowClient()
    exp = mlflow.set_experiment("load")
    model = _model()
    _wait()
    start = time.perf_counter()
    run = client.create_run(exp.experiment_id, run_name=f"writer-{index}")
    now = int(time.time() * 1000)
    batch: list[Metric] = []
    for step in range(points // KEYS):
        for k in range(KEYS):
            batch.append(Metric(f"m{k}", step * 0.001 + k, now, step))
        if len(batch) >= 1000:
            client.log_batch(run.info.run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run.info.run_id, metrics=batch)
    metrics_done = time.perf_counter()
    import mlflow.sklearn
    import numpy as np

    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.sklearn.log_model(model, name="model", registered_model_name=f"load-{index}",
                                 input_example=np.zeros((2, 4)))
    end = time.perf_counter()
    return {"start": start, "metrics_s": metrics_done - start, "model_s": end - metrics_done,
            "points": points // KEYS * KEYS}


def reader(kind: str, url: str) -> dict[str, list[float]]:
    if kind == "modelplane":
        import modelplane as mp

        mp.configure(server_url=url)
        client = mp.Client()
        search = lambda: client.tracking.search_runs(  # noqa: E731
            "metrics.m1 > 0.5", experiments=["load"], max_results=50)
        by_alias = lambda: client.registry.get_by_alias("bench-ref", "champion")  # noqa: E731
    else:
        import mlflow

        mlflow.set_tracking_uri(url)
        ml = mlflow.MlflowClient()
        exp_id = mlflow.set_experiment("load").experiment_id
        search = lambda: ml.search_runs([exp_id], "metrics.m1 > 0.5",  # noqa: E731
                                        max_results=50)
        by_alias = lambda: ml.get_model_version_by_alias("bench-ref", "champion")  # noqa: E731
    import select

    _wait()
    out: dict[str, list[float]] = {"search": [], "alias": []}
    while not select.select([sys.stdin], [], [], 0)[0]:
        for name, call in (("search", search), ("alias", by_alias)):
            t = time.perf_counter()
            call()
            out[name].append(time.perf_counter() - t)
    return out


def setup(kind: str, url: str) -> None:
    """The experiment and a model with alias ``champion`` the readers read."""
    model = _model()
    import numpy as np

    if kind == "modelplane":
        import modelplane as mp

        mp.configure(server_url=url)
        client = mp.Client()
        client.tracking.create_experiment("load")
        mv = client.log_model(None, model, "bench-ref", input_example=np.zeros((2, 4)))
        client.registry.set_alias("bench-ref", "champion", mv.version)
    else:
        import mlflow
        import mlflow.sklearn

        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("load")
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(model, name="model",
                                            registered_model_name="bench-ref")
        mlflow.MlflowClient().set_registered_model_alias(
            "bench-ref", "champion", info.registered_model_version)
    print("done", flush=True)


if __name__ == "__main__":
    kind, role, url = sys.argv[1:4]
    if role == "setup":
        setup(kind, url)
    elif role == "reader":
        print(json.dumps(reader(kind, url)), flush=True)
    else:
        write = mp_writer if kind == "modelplane" else mlflow_writer
        print(json.dumps(write(url, int(sys.argv[4]), int(sys.argv[5]))), flush=True)
