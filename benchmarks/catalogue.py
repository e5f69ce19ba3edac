"""Catalogue benchmark: modelplane against MLflow on SQLite, the same workload, one run.

Figures: log_metric until durable, log_batch throughput, search over 1,000 runs with a
metric filter, create model version, set alias, get version by alias, log_model of a
scikit-learn RandomForest, and 1-row predict through the loaded model against the raw
estimator. MLflow runs in its own venv (``benchmarks/.venvs/mlflow``). Pass
``--postgres URL`` to also report modelplane on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "peers"))

from workload import (  # noqa: E402
    SEARCH_FILTER,
    median_time,
    paired_overhead,
    run_metrics,
    run_params,
    training_data,
)

from benchmarks.common import Row, print_table, row  # noqa: E402
from benchmarks.peervenv import peer_python  # noqa: E402

MLFLOW_REQUIREMENTS = ["mlflow>=3,<4", "scikit-learn", "psycopg[binary]"]

# (figure, target ratio ours-vs-mlflow, higher_is_better)
TARGETS = {
    "log_metric_s": 30, "log_batch_metrics_per_s": 30, "create_version_s": 10,
    "set_alias_s": 10, "get_by_alias_s": 20, "search_runs_s": 20,
}


def ours(database_url: str, workdir: str, quick: bool) -> dict[str, Any]:
    import modelplane as mp
    from modelplane.core.config import configure

    configure(home=workdir, database_url=database_url, artifact_root=f"{workdir}/artifacts")
    client = mp.Client()
    out: dict[str, Any] = {}
    n = 200 if quick else 1000
    with client.start_run("bench", synchronous=True) as run:
        step = iter(range(10**9))
        out["log_metric_s"] = median_time(lambda: run.log_metric("loss", 0.5, next(step)), n)
        batch = [(f"b{i % 10}", float(i), i) for i in range(1000)]
        per_batch = median_time(lambda: run.log_batch(batch), 20 if quick else 100, 2)
        out["log_batch_metrics_per_s"] = 1000 / per_batch
        runs = 200 if quick else 1000
        tracking = client.tracking
        for i in range(runs):
            r = tracking.start_run("search", params=run_params(i), record_code_version=False)
            tracking.log_metrics(r.id, run_metrics(i))
        out["search_runs"] = runs
        out["search_runs_s"] = median_time(
            lambda: tracking.search_runs(SEARCH_FILTER, experiments=["search"],
                                         max_results=1000), 5 if quick else 20, 1)
        registry = client.registry
        digest = client.artifacts.put_bytes(b"weights")
        out["create_version_s"] = median_time(
            lambda: registry.create_version("bench-model", artifact_digest=digest,
                                            flavor="python", run_id=run.id), n)
        versions = iter(range(1, 10**6))
        out["set_alias_s"] = median_time(
            lambda: registry.set_alias("bench-model", "champion", next(versions)), n)
        out["get_by_alias_s"] = median_time(
            lambda: registry.get_by_alias("bench-model", "champion"), n * 3)

        model, X, _ = training_data()
        out["log_model_s"] = median_time(
            lambda: run.log_model(model, "rf", input_example=X.iloc[:5]), 3 if quick else 5, 1)
    loaded = mp.load_model("models:/rf:1")
    frame, record, array = X.iloc[:1], X.iloc[0].to_dict(), X.iloc[:1].to_numpy()
    reps = 300 if quick else 1000
    out["predict_overhead_s"] = paired_overhead(lambda: model.predict(frame),
                                                lambda: loaded.predict(frame), reps)
    out["predict_overhead_record_s"] = paired_overhead(lambda: model.predict(frame),
                                                       lambda: loaded.predict(record), reps)
    out["predict_overhead_ndarray_s"] = paired_overhead(lambda: model.predict(frame),
                                                        lambda: loaded.predict(array), reps)
    out["predict_overhead_same_input_s"] = paired_overhead(lambda: model.predict(array),
                                                           lambda: loaded.predict(array), reps)
    return out


def mlflow(workdir: str, quick: bool, db: str | None = None) -> dict[str, Any] | None:
    python = peer_python("mlflow", MLFLOW_REQUIREMENTS)
    if python is None:
        return None
    cmd = [str(python), str(HERE / "peers" / "mlflow_catalogue.py"), workdir]
    if db:
        cmd += ["--db", db.replace("postgresql+psycopg://", "postgresql://")]
    result = subprocess.run(cmd + (["--quick"] if quick else []), capture_output=True,
                            text=True, env={**os.environ, "MLFLOW_ENABLE_ASYNC_LOGGING": "false"})
    if result.returncode != 0:
        print(f"mlflow workload failed:\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def _rows(label: str, mine: dict[str, Any], peer: dict[str, Any] | None) -> list[Row]:
    rows: list[Row] = []
    for key, target in TARGETS.items():
        value = mine[key]
        per_s = key.endswith("per_s")
        unit = "metrics/s" if per_s else "ms"
        shown = value if per_s else value * 1000
        note, ok, tgt = "", None, f">= {target}x MLflow"
        if peer is not None:
            ratio = value / peer[key] if per_s else peer[key] / value
            peer_shown = peer[key] if per_s else peer[key] * 1000
            note = f"MLflow {peer_shown:,.4g} {unit}; {ratio:,.1f}x"
            ok = ratio >= target
        rows.append(row(f"catalogue/{label}", key.removesuffix("_s"), shown, unit, target=tgt,
                        ok=ok, note=note))
    note = f"MLflow {peer['log_model_s']:.2f} s" if peer else ""
    rows.append(row(f"catalogue/{label}", "log_model (sklearn RF)", mine["log_model_s"], "s",
                    target="<= 0.5", ok=mine["log_model_s"] <= 0.5, note=note))
    for variant in ("", "_record", "_ndarray"):
        over = mine[f"predict_overhead{variant}_s"] * 1000
        name = {"": "DataFrame", "_record": "dict record", "_ndarray": "ndarray"}[variant]
        note = "vs raw estimator on a 1-row DataFrame, paired"
        if peer and not variant:
            note = f"MLflow +{peer['predict_overhead_s'] * 1000:.2f} ms over raw"
        rows.append(row(f"catalogue/{label}", f"1-row predict overhead ({name})", over, "ms",
                        target="<= 0.1", ok=over <= 0.1, note=note))
    over = mine["predict_overhead_same_input_s"] * 1000
    rows.append(row(f"catalogue/{label}", "1-row predict overhead (ndarray vs raw ndarray)",
                    over, "ms", target="<= 0.1", ok=over <= 0.1,
                    note="the wrapper alone: same input to both"))
    return rows


def _fresh_database(admin_url: str, label: str) -> str:
    """A new empty database on the server of ``admin_url``, for one candidate."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"bench_{label}_{os.getpid()}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def main(quick: bool = False, postgres: str | None = None) -> list[Row]:
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        peer = mlflow(f"{tmp}/mlflow", quick)
        mine = ours(f"sqlite:///{tmp}/mp/modelplane.db", f"{tmp}/mp", quick)
        rows = _rows("sqlite", mine, peer)
        if postgres:
            peer_pg = mlflow(f"{tmp}/mlflow-pg", quick, _fresh_database(postgres, "mlflow"))
            mine_pg = ours(_fresh_database(postgres, "modelplane"), f"{tmp}/mp-pg", quick)
            rows += _rows("postgres", mine_pg, peer_pg)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", help="a PostgreSQL server URL (fresh databases are "
                        "created on it for each candidate)")
    args = parser.parse_args()
    print_table(main(args.quick, args.postgres), "catalogue: modelplane vs MLflow")
