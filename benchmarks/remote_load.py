"""Many clients, one server: modelplane's server against MLflow's tracking server, both on
PostgreSQL, the same load, one run.

16 writer processes (each a remote training client: batched metrics, then one small
scikit-learn model logged and registered through the server) and 4 reader processes
(search runs with a metric filter, get a version by alias, in turn, for as long as the
writers write). Figures per server: metric throughput (all writers' points over the
metric phase's wall time), log_model p50, read p50/p99 while the writers write.
``python benchmarks/remote_load.py [--quick] [--postgres URL]``; MLflow comes from
``.venv-mlflow`` (``tests/mlflow_env.py``; ``MLFLOW_PYTHON=PATH`` names another), with
psycopg 3 for PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402

CHILD = HERE / "peers" / "remote_load_child.py"
WRITERS, READERS = 16, 4
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _database(admin_url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"bench_remote_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _wait_up(url: str, proc: subprocess.Popen[bytes], path: str) -> None:
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server at {url} exited")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server at {url} did not come up")


@contextmanager
def _server(kind: str, database_url: str, workdir: str, workers: int) -> Iterator[str]:
    port = _port()
    url = f"http://127.0.0.1:{port}"
    if kind == "modelplane":
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
        env.update(MODELPLANE_HOME=workdir, MODELPLANE_DATABASE_URL=database_url)
        cmd = [sys.executable, "-m", "modelplane", "server", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning"]
        health = "/api/v1/health"
    else:
        env = dict(os.environ)
        cmd = [str(_mlflow_python().parent / "mlflow"), "server", "--backend-store-uri",
               database_url, "--artifacts-destination", f"{workdir}/mlartifacts",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        health = "/health"
    proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_up(url, proc, health)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _mlflow_python() -> Path:
    """``MLFLOW_PYTHON`` if set (an existing MLflow venv's interpreter), else the
    repository's ``.venv-mlflow`` (built on first use)."""
    if os.environ.get("MLFLOW_PYTHON"):
        return Path(os.environ["MLFLOW_PYTHON"])
    from tests.mlflow_env import mlflow_python

    return mlflow_python()


def _child(kind: str, role: str, url: str, *extra: str) -> subprocess.Popen[str]:
    python = sys.executable if kind == "modelplane" else str(_mlflow_python())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    env["MODELPLANE_HOME"] = tempfile.mkdtemp(prefix="bench-client-")  # its model cache
    return subprocess.Popen([python, str(CHILD), kind, role, url, *extra], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def load(kind: str, url: str, points: int) -> dict[str, Any]:
    setup = _child(kind, "setup", url)
    setup.communicate(timeout=600)
    if setup.returncode != 0:
        raise RuntimeError(f"{kind} setup failed")
    writers = [_child(kind, "writer", url, str(i), str(points)) for i in range(WRITERS)]
    readers = [_child(kind, "reader", url) for _ in range(READERS)]
    for p in writers + readers:  # every client imported and connected
        assert p.stdout is not None and p.stdout.readline().strip() == "ready", kind
    for p in readers + writers:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    begin = time.perf_counter()
    results = [json.loads(p.communicate(timeout=1800)[0]) for p in writers]
    wall = time.perf_counter() - begin
    reads: dict[str, list[float]] = {"search": [], "alias": []}
    for p in readers:
        found = json.loads(p.communicate(input="stop\n", timeout=600)[0])
        for k in reads:
            reads[k].extend(found[k])
    metric_wall = max(r["start"] + r["metrics_s"] for r in results) - min(
        r["start"] for r in results)
    every = sorted(reads["search"] + reads["alias"])
    return {
        "metric_points_per_s": sum(r["points"] for r in results) / metric_wall,
        "log_model_p50_s": statistics.median(r["model_s"] for r in results),
        "wall_s": wall,
        "read_p50_s": every[len(every) // 2],
        "read_p99_s": every[min(len(every) - 1, int(len(every) * 0.99))],
        "search_p99_s": _p99(reads["search"]), "alias_p99_s": _p99(reads["alias"]),
        "reads": len(every),
    }


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def main(quick: bool = False, postgres: str | None = None, workers: int = 2) -> list[Row]:
    admin = postgres or os.environ.get("MODELPLANE_TEST_POSTGRES_URL") or DEFAULT_PG
    points = 2_000 if quick else 20_000
    figures: dict[str, dict[str, Any]] = {}
    for kind in ("modelplane", "mlflow"):
        with (_database(admin) as db, tempfile.TemporaryDirectory() as workdir,
              _server(kind, db, workdir, workers) as url):
            figures[kind] = load(kind, url, points)
    ours, theirs = figures["modelplane"], figures["mlflow"]
    ratio = ours["metric_points_per_s"] / theirs["metric_points_per_s"]
    note = (f"{WRITERS} writers x {points} points + {READERS} readers, PostgreSQL, "
            f"{workers} server workers each; load {os.getloadavg()[0]:.1f}")
    rows = []
    for kind, f in figures.items():
        rows += [
            row("remote_load", f"{kind} metric throughput", f["metric_points_per_s"],
                "points/s", note=note),
            row("remote_load", f"{kind} log_model p50", f["log_model_p50_s"] * 1000, "ms"),
            row("remote_load", f"{kind} read p50", f["read_p50_s"] * 1000, "ms",
                note=f"{f['reads']} reads during the writes"),
            row("remote_load", f"{kind} read p99", f["read_p99_s"] * 1000, "ms",
                target="<= 20 ms" if kind == "modelplane" else "",
                ok=f["read_p99_s"] <= 0.020 if kind == "modelplane" else None,
                note=f"search p99 {f['search_p99_s'] * 1000:.1f} ms, by alias p99 "
                     f"{f['alias_p99_s'] * 1000:.1f} ms"),
        ]
    rows.append(row("remote_load", "metric throughput vs MLflow", ratio, "x",
                    target=">= 10x", ok=ratio >= 10))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print_table(main(quick=args.quick, postgres=args.postgres, workers=args.workers),
                title="remote load: modelplane server vs MLflow tracking server")
