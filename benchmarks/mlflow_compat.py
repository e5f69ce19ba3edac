"""MLflow compatibility benchmark: the same real-mlflow-client script
(``peers/mlflow_compat_client.py``, run by ``.venv-mlflow``'s Python) against
``mlflow server`` and against ``modelplane server``, both on SQLite, then both on
PostgreSQL, in one run. Each server runs one worker on loopback; the figures are median
seconds per client round trip: ``log_metric``, ``log_batch`` (100 metric points and 10
params), ``search_runs`` (a metric and param filter, ordered, over the runs the script
logged first) and ``get_model_version_by_alias``. Target: modelplane at least 3x faster
on each. The script's answers (search hits, alias version, history length) must match
between the two servers.

``python benchmarks/mlflow_compat.py [--quick] [--postgres URL]``; PostgreSQL defaults to
``MODELPLANE_TEST_POSTGRES_URL`` (fresh databases are created on it and dropped after).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402

SCRIPT = HERE / "peers" / "mlflow_compat_client.py"
TARGET = 3.0
FIGURES = {"log_metric_s": "log_metric", "log_batch_s": "log_batch (100 points)",
           "search_s": "search_runs (filter + order)", "get_by_alias_s": "get version by alias"}
SAME = ("search_found", "alias_version", "history_points")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MODELPLANE_", "MLFLOW_"))}


@contextmanager
def _serving(cmd: list[str], env: dict[str, str], health: str, log: Path
             ) -> Iterator[None]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[2]} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError(f"{' '.join(cmd[:4])} did not become healthy")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def mlflow_server(python: Path, workdir: Path, db: str) -> Iterator[str]:
    port = _free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(python), "-m", "mlflow", "server", "--backend-store-uri", db,
           "--artifacts-destination", str(workdir / "artifacts"), "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    env = {**_clean_env(), "MLFLOW_DISABLE_TELEMETRY": "true", "GIT_PYTHON_REFRESH": "quiet"}
    env.pop("PYTHONPATH", None)
    url = f"http://127.0.0.1:{port}"
    with _serving(cmd, env, f"{url}/health", workdir / "server.log"):
        yield url


@contextmanager
def modelplane_server(workdir: Path, db: str) -> Iterator[str]:
    port = _free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "modelplane", "server", "--port", str(port), "--workers", "1",
           "--log-level", "warning"]
    env = {**_clean_env(), "MODELPLANE_HOME": str(workdir), "MODELPLANE_DATABASE_URL": db}
    url = f"http://127.0.0.1:{port}"
    with _serving(cmd, env, f"{url}/api/v1/health", workdir / "server.log"):
        yield url


def run_client(python: Path, url: str, quick: bool) -> dict[str, Any]:
    env = {**_clean_env(), "MLFLOW_TRACKING_URI": url, "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
           "MLFLOW_DISABLE_TELEMETRY": "true", "GIT_PYTHON_REFRESH": "quiet",
           "DO_NOT_TRACK": "true"}
    env.pop("PYTHONPATH", None)
    args = ["30", "100"] if quick else ["100", "300"]
    done = subprocess.run([str(python), str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"the mlflow client script failed against {url}:\n"
                           f"{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _rows(label: str, mine: dict[str, Any], peer: dict[str, Any]) -> list[Row]:
    rows = []
    same = all(mine[k] == peer[k] for k in SAME)
    for key, name in FIGURES.items():
        ratio = peer[key] / mine[key]
        rows.append(row(f"mlflow_compat/{label}", name, mine[key] * 1000, "ms",
                        target=f">= {TARGET:g}x mlflow server", ok=ratio >= TARGET and same,
                        note=f"mlflow server {peer[key] * 1000:,.3g} ms; {ratio:,.1f}x"
                        + ("" if same else "; ANSWERS DIFFER")))
    return rows


@contextmanager
def postgres_databases(admin_url: str) -> Iterator[tuple[str, str]]:
    """Two fresh databases (mlflow's, modelplane's), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(admin_url).set(drivername="postgresql+psycopg")
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    names = [f"bench_compat_{who}_{os.getpid()}" for who in ("mlflow", "modelplane")]
    with engine.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    urls = [base.set(database=n).render_as_string(hide_password=False) for n in names]
    try:
        yield urls[0], urls[1]
    finally:
        with engine.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def compare(python: Path, label: str, work: Path, mlflow_db: str, ours_db: str,
            quick: bool) -> list[Row]:
    with mlflow_server(python, work / f"mlflow-{label}", mlflow_db) as url:
        peer = run_client(python, url, quick)
    with modelplane_server(work / f"modelplane-{label}", ours_db) as url:
        mine = run_client(python, url, quick)
    return _rows(label, mine, peer)


def main(quick: bool = False, postgres: str | None = None) -> list[Row]:
    from tests.mlflow_env import mlflow_python

    python = mlflow_python()
    postgres = postgres or os.environ.get("MODELPLANE_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory(prefix="mp-bench-compat-") as tmp:
        work = Path(tmp)
        rows = compare(python, "sqlite", work, f"sqlite:///{work}/mlflow.db",
                       f"sqlite:///{work}/modelplane.db", quick)
        if postgres:
            with postgres_databases(postgres) as (theirs, ours):
                rows += compare(python, "postgres", work, theirs, ours, quick)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", help="a PostgreSQL server URL (default: "
                        "MODELPLANE_TEST_POSTGRES_URL)")
    args = parser.parse_args()
    print_table(main(args.quick, args.postgres), "MLflow client: modelplane vs mlflow server")
