"""Ray benchmark: what running on a Ray cluster costs over the in-process executor.

Figures (a loopback cluster started here: a head and one worker node, one CPU each):
- per-step overhead of a 20-step chain of no-op steps (cache off), local vs Ray;
- a fan-out of 1,000 cheap items (``step.map``), local vs Ray, items/s;
- batch inference rows/s over 8 Parquet files: local ``predict`` file by file vs the Ray
  actor pool (on 2 cores expect no gain: this reports the overhead);
- a paper estimate of a 10,000-item fan-out of 1-second items on 10 and 100 nodes of 8
  CPUs, from the measured per-item driver cost (the runner records each item in the
  metadata database, so the driver bounds throughput at 1/cost items per second).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402

NAME = "ray"


def _home(tmp: str, name: str) -> Any:
    import modelplane as mp
    from modelplane.core.config import reset_settings

    os.environ["MODELPLANE_HOME"] = str(Path(tmp, name))
    reset_settings()
    return mp.Client()


def _chain(steps: int) -> Any:
    from modelplane.pipelines import pipeline, step

    @step(cache=False)
    def noop(x: int) -> int:
        return x + 1

    def build(n: int = 0) -> Any:
        value = noop(n)
        for _ in range(steps - 1):
            value = noop(value)
        return value

    return pipeline(build, name=f"chain-{steps}")


def _fan(items: int) -> Any:
    from modelplane.pipelines import pipeline, step

    @step
    def cheap(i: int, salt: int) -> int:
        return i * 2 + salt

    return pipeline(lambda salt=0: cheap.map(range(items), salt=salt), name=f"fan-{items}")


def _timed(client: Any, pipe: Any, executor: str, params: dict[str, Any]) -> float:
    started = time.perf_counter()
    run = client.pipelines.run(pipe, params, executor=executor)
    took = time.perf_counter() - started
    if run.status != "succeeded":
        raise RuntimeError(f"{pipe.name} on {executor}: {run.error}")
    return took


def _model_and_files(client: Any, tmp: str, files: int, rows: int) -> tuple[str, list[str]]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((2000, 16)), columns=[f"f{i}" for i in range(16)])
    y = (X.sum(axis=1) > 0).astype(int)
    client.log_model(None, LogisticRegression().fit(X, y), "bench-ray", input_example=X[:5],
                     stage="production")
    Path(tmp, "in").mkdir()
    paths = []
    for i in range(files):
        part = pd.DataFrame(rng.standard_normal((rows, 16)), columns=X.columns)
        path = Path(tmp, "in", f"part-{i:02d}.parquet")
        part.to_parquet(path, index=False)
        paths.append(str(path))
    return "models:/bench-ray@production", paths


def main(quick: bool = False) -> list[Row]:
    try:
        import ray  # noqa: F401
    except ImportError:
        return [row(NAME, "skipped", 0, "", note="Ray not installed: pip install "
                    "'modelplane[ray]'")]
    from tests.ray_cluster import ray_cluster

    steps, items = 20, (200 if quick else 1000)
    files, rows_per_file = 8, (20_000 if quick else 100_000)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mp-bench-ray-") as tmp, \
            ray_cluster(head_cpus=1, worker_cpus=1) as address:
        client = _home(tmp, "home")
        ray_x = f"ray:{address}"
        _timed(client, _chain(2), ray_x, {"n": -1})  # connect, warm the workers
        local_chain = min(_timed(client, _chain(steps), "local", {"n": i}) for i in range(3))
        ray_chain = min(_timed(client, _chain(steps), ray_x, {"n": i}) for i in range(3))
        per_local, per_ray = local_chain / steps * 1e3, ray_chain / steps * 1e3
        rows += [row(NAME, "per-step overhead, local", per_local, "ms/step",
                     note=f"{steps}-step chain of no-op steps, cache off"),
                 row(NAME, "per-step overhead, Ray", per_ray, "ms/step",
                     note=f"{per_ray / per_local:.1f}x local (serial chain: one round trip "
                          "per step)")]
        fan_local = _timed(client, _fan(items), "local", {"salt": 1})
        fan_ray = _timed(client, _fan(items), ray_x, {"salt": 2})
        rows += [row(NAME, f"fan-out {items} items, local", items / fan_local, "items/s",
                     note=f"{fan_local:.1f} s wall"),
                 row(NAME, f"fan-out {items} items, Ray", items / fan_ray, "items/s",
                     note=f"{fan_ray:.1f} s wall, {fan_local / fan_ray:.2f}x local")]
        per_item_ms = fan_ray / items * 1e3
        for nodes in (10, 100):
            cores = nodes * 8
            compute = 10_000 / cores  # 10,000 one-second items
            driver = 10_000 * per_item_ms / 1e3
            rows.append(row(NAME, f"estimate: 10k 1-s items on {nodes} nodes", max(compute,
                            driver), "s", note=f"compute {compute:.0f} s on {cores} CPUs vs "
                            f"driver {driver:.0f} s at {per_item_ms:.1f} ms/item measured"))
        rows += _batch(client, tmp, address, files, rows_per_file)
    return rows


def _batch(client: Any, tmp: str, address: str, files: int, per_file: int) -> list[Row]:
    from modelplane.serving.batch import predict_file
    from modelplane.serving.batch_ray import predict_files_ray

    uri, paths = _model_and_files(client, tmp, files, per_file)
    started = time.perf_counter()
    for path in paths:
        predict_file(uri, path, Path(tmp, "out-local", Path(path).name), models=client.models)
    local = time.perf_counter() - started
    result = predict_files_ray(uri, paths, Path(tmp, "out-ray"), address=address,
                               settings=client.pipelines.worker_settings)
    total = files * per_file
    return [row(NAME, "batch predict, local", total / local, "rows/s",
                note=f"{files} files x {per_file:,} rows, logistic regression"),
            row(NAME, "batch predict, Ray actors", result.rows_per_second, "rows/s",
                note=f"{result.workers} actors incl. model load; "
                     f"{local / result.seconds:.2f}x local")]


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print_table(main(quick=quick), title="Ray: pipelines and batch inference")
