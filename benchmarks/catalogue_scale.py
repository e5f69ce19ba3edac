"""The catalogue at a team's scale: 100,000 runs of 10 params and 10 metrics, and one run
with a 1,000,000-point metric, on SQLite and PostgreSQL.

Prints search (a metric and a param filter; sorts by a metric and a param; a page deep
into the result), the UI's runs page (plain, sorted, filtered) and compare of 50 runs
as server time (in-process ASGI calls), the long history (logging rate at its start and
end, a chart's buckets, a page of the export), and ``log_metrics`` of 1,000 distinct keys
at one step. The runs are bulk-inserted (:mod:`benchmarks.scale_seed`); the 1M points go
through the Python API. ``python benchmarks/catalogue_scale.py [--runs N]
[--postgres URL]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402

SEARCH = "metrics.m0 > 0.5 and params.p1 = '8'"
POSTGRES_ENV = "MODELPLANE_BENCH_POSTGRES_URL"


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def _ui(http: Any, path: str, **params: Any) -> Callable[[], Any]:
    def get() -> None:
        response = http.get(path, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
    return get


def measure(database_url: str, workdir: str, runs: int, points: int,
            quick: bool) -> dict[str, float]:
    from fastapi.testclient import TestClient

    import modelplane as mp
    from benchmarks.scale_seed import seed_runs
    from modelplane.core.config import configure
    from modelplane.server.app import create_app

    configure(home=workdir, database_url=database_url, artifact_root=f"{workdir}/artifacts")
    client = mp.Client()
    tracking = client.tracking
    out: dict[str, float] = {}
    exp = tracking.create_experiment("scale")
    out["seed_s"] = seed_runs(tracking.store.db, exp.id, runs)
    reps = 5 if quick else 15
    search = lambda **kw: lambda: tracking.search_runs(experiments=["scale"], **kw)  # noqa: E731
    out["search_ms"] = _median_ms(search(filter=SEARCH, max_results=100), reps)
    out["sort_metric_ms"] = _median_ms(search(order_by="metrics.m3 desc", max_results=50),
                                       reps)
    out["sort_param_ms"] = _median_ms(search(order_by="params.p2", max_results=50), reps)
    out["filter_sort_ms"] = _median_ms(search(filter="metrics.m1 < 0.2",
                                              order_by="metrics.m3 desc", max_results=50),
                                       reps)
    token = None
    for _ in range(20):  # page 21 of a metric ordering, by the tokens
        token = tracking.search_runs(experiments=["scale"], order_by="metrics.m3 desc",
                                     max_results=50, page_token=token).next_page_token
    out["page_21_ms"] = _median_ms(search(order_by="metrics.m3 desc", max_results=50,
                                          page_token=token), reps)
    with TestClient(create_app()) as http:
        path = f"/experiments/{exp.id}"
        out["ui_runs_ms"] = _median_ms(_ui(http, path), reps)
        out["ui_sort_metric_ms"] = _median_ms(_ui(http, path, order_by="metrics.m3 desc"),
                                              reps)
        out["ui_sort_param_ms"] = _median_ms(_ui(http, path, order_by="params.p5 desc"),
                                             reps)
        out["ui_filter_ms"] = _median_ms(_ui(http, path, filter=SEARCH), reps)
        ids = [r.id for r in tracking.search_runs(experiments=["scale"],
                                                  max_results=50).runs]
        out["ui_compare_50_ms"] = _median_ms(_ui(http, "/compare", run=ids), 3)
    out.update(_long_history(tracking, points, reps))
    out.update(_many_keys(tracking, reps))
    return out


def _long_history(tracking: Any, points: int, reps: int) -> dict[str, float]:
    run = tracking.start_run("long-history", name="long")
    chunk, rates = 10_000, []
    for first in range(0, points, chunk):
        batch = [("loss", 1.0 / (1 + step), step) for step in range(first, first + chunk)]
        start = time.perf_counter()
        tracking.log_batch(run.id, batch)
        rates.append(chunk / (time.perf_counter() - start))
    head = statistics.median(rates[:5])
    tail = statistics.median(rates[-5:])
    return {
        "history_log_first_per_s": head, "history_log_last_per_s": tail,
        "history_series_ms": _median_ms(lambda: tracking.metric_series(run.id, "loss", 1000),
                                        reps),
        "history_page_ms": _median_ms(lambda: tracking.metric_page(
            run.id, "loss", from_step=points // 2, limit=10_000), reps),
    }


def _many_keys(tracking: Any, reps: int) -> dict[str, float]:
    run = tracking.start_run("many-keys")
    step = iter(range(10**9))
    values = {f"layer_{i}/grad_norm": i / 1000 for i in range(1000)}
    ms = _median_ms(lambda: tracking.log_metrics(run.id, values, step=next(step)), reps * 2)
    return {"log_1000_keys_per_s": 1000 / (ms / 1000)}


# (figure, label, unit, goal, higher_is_better)
FIGURES = [
    ("seed_s", "seed runs (bulk insert)", "s", None, False),
    ("search_ms", f"search: {SEARCH}, 100 results", "ms", 50, False),
    ("sort_metric_ms", "search sorted by a metric, 50", "ms", 50, False),
    ("sort_param_ms", "search sorted by a param, 50", "ms", 50, False),
    ("filter_sort_ms", "metric filter + metric sort, 50", "ms", 50, False),
    ("page_21_ms", "page 21 of a metric sort (keyset)", "ms", 50, False),
    ("ui_runs_ms", "UI runs page", "ms", 100, False),
    ("ui_sort_metric_ms", "UI runs page sorted by a metric", "ms", 100, False),
    ("ui_sort_param_ms", "UI runs page sorted by a param", "ms", 100, False),
    ("ui_filter_ms", "UI runs page filtered", "ms", 100, False),
    ("ui_compare_50_ms", "UI compare of 50 runs", "ms", 100, False),
    ("history_log_first_per_s", "long history: logging, first 50k points", "points/s",
     None, True),
    ("history_log_last_per_s", "long history: logging, last 50k points", "points/s",
     None, True),
    ("history_series_ms", "long history: chart (1,000 min/max buckets)", "ms", 50, False),
    ("history_page_ms", "long history: export page of 10,000 points", "ms", 50, False),
    ("log_1000_keys_per_s", "log_metrics of 1,000 keys at one step", "metrics/s", 200_000,
     True),
]


def _rows(label: str, got: dict[str, float], runs: int, points: int) -> list[Row]:
    out: list[Row] = []
    for key, name, unit, goal, higher in FIGURES:
        value = got[key]
        ok = None if goal is None else (value >= goal if higher else value <= goal)
        target = "" if goal is None else f"{'>=' if higher else '<='} {goal:,}"
        note = f"{runs:,} runs" if key.endswith("_ms") or key == "seed_s" else ""
        if key.startswith("history"):
            note = f"{points:,} points"
        out.append(row(f"catalogue_scale/{label}", name, value, unit, target=target, ok=ok,
                       note=note))
    first, last = got["history_log_first_per_s"], got["history_log_last_per_s"]
    out.append(row(f"catalogue_scale/{label}", "long history: logging rate kept (last/first)",
                   last / first, "x", target=">= 0.8", ok=last / first >= 0.8))
    return out


def _fresh_database(admin_url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"bench_scale_{os.getpid()}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def main(quick: bool = False, postgres: str | None = None, runs: int | None = None,
         points: int | None = None) -> list[Row]:
    runs = runs or (20_000 if quick else 100_000)
    points = points or (200_000 if quick else 1_000_000)
    postgres = postgres or os.environ.get(POSTGRES_ENV)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mp-scale-") as tmp:
        got = measure(f"sqlite:///{tmp}/sqlite/modelplane.db", f"{tmp}/sqlite", runs, points,
                      quick)
        rows += _rows("sqlite", got, runs, points)
        if postgres:
            got = measure(_fresh_database(postgres), f"{tmp}/pg", runs, points, quick)
            rows += _rows("postgres", got, runs, points)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, help="runs to seed (default 100,000)")
    parser.add_argument("--points", type=int, help="points of the long history (1,000,000)")
    parser.add_argument("--postgres", help=f"a PostgreSQL server URL (or ${POSTGRES_ENV}); "
                        "a fresh database is created on it")
    args = parser.parse_args()
    print_table(main(args.quick, args.postgres, args.runs, args.points),
                "catalogue at scale: modelplane on SQLite and PostgreSQL")
