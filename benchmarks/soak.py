"""A soak: mixed traffic against one ``modelplane server`` for a while, watching for drift.

The server (SQLite home, the prediction log on, written by its child process) serves a
deployment ``soak`` of a logistic regression on breast_cancer's 30 features, with a
canary of version 2 running (steps 5/25/50/100 %, each held for a quarter of the run).
First a short burst at concurrency 32 measures the maximum prediction rate; then the soak
offers ``--load`` (default 80%) of it, open loop, as mixed traffic: predictions through
the deployment (80% of requests), metric logging to a run (8%), label posts for earlier
predictions (6%) and registry reads (6%).

The run is cut into windows; each row gives the window's rate, errors, prediction latency
percentiles and the resident memory of the server and of its prediction-log writer. The
summary compares the last window with the first one after warm-up (memory growth, p99
ratio), counts errors (any status but 2xx), and, after the server is stopped (which
flushes the log), counts predictions answered but missing from the log ("lost"), and
the log's size on disk per row.

``python benchmarks/soak.py --seconds 600`` is the issue's ten minutes; ``make bench``
runs it for 60 s (``--quick``: 30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402

BENCHMARK = "soak"
MIX = (("predict", 0.80), ("metric", 0.08), ("label", 0.06), ("registry", 0.06))
MAX_CONCURRENCY = 64


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _setup(home: Path) -> dict[str, float]:
    """Two versions of the model (v1 in production) and one record to send."""
    code = (
        "import modelplane as mp\n"
        "from sklearn.datasets import load_breast_cancer\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X, y = load_breast_cancer(return_X_y=True, as_frame=True)\n"
        "c = mp.Client()\n"
        "for C in (1.0, 0.5):\n"
        "    m = LogisticRegression(C=C, max_iter=5000).fit(X, y)\n"
        "    c.log_model(None, m, 'cancer', input_example=X[:5])\n"
        "c.registry.set_stage('cancer', 1, 'production')\n"
        "print(X.iloc[0].to_json())\n")
    env = {**os.environ, "MODELPLANE_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    import httpx

    env = {**os.environ, "MODELPLANE_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane", "server", "--port", str(port), "--log-level",
         "warning"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("server did not become healthy")


def _wait_ready(http: Any, timeout: float = 180) -> None:
    """Until the deployment answers (the server loads it on its next poll)."""
    record = {"mean radius": 17.99}
    deadline = time.monotonic() + timeout
    while True:
        got = http.post("/predict/soak", json=record)
        if got.status_code != 503:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the deployment did not load: {got.text[:300]}")
        time.sleep(0.5)


@dataclass
class Window:
    started: float
    counts: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    predict_ms: list[float] = field(default_factory=list)
    other_ms: list[float] = field(default_factory=list)
    server_mb: float = 0.0
    writer_mb: float = 0.0


class Soak:
    def __init__(self, url: str, record: dict[str, float], run_id: str) -> None:
        self.url = url
        self.body = record
        self.run_id = run_id
        self.answered: list[str] = []  # request ids of predictions answered 200
        self.errors: dict[str, int] = {}
        self.step = 0

    async def one(self, http: Any, kind: str, window: Window) -> None:
        import httpx

        try:
            await self._one(http, kind, window)
        except httpx.TransportError as exc:
            window.errors += 1
            key = f"{kind} {type(exc).__name__}"
            self.errors[key] = self.errors.get(key, 0) + 1

    async def _one(self, http: Any, kind: str, window: Window) -> None:
        started = time.perf_counter()
        if kind == "predict":
            response = await http.post("/predict/soak", json=self.body)
            if response.status_code == 200:
                self.answered.append(response.headers["x-request-id"])
        elif kind == "metric":
            self.step += 1
            response = await http.post(f"/api/v1/runs/{self.run_id}/metrics",
                                       json={"key": "loss", "value": 1 / self.step,
                                             "step": self.step})
        elif kind == "label":
            if not self.answered:
                return
            rid = random.choice(self.answered[-5000:])
            response = await http.post("/api/v1/monitoring/cancer/labels",
                                       json={"labels": [{"request_id": rid, "label": 1}]})
        else:
            response = await http.get(random.choice(
                ["/api/v1/models/cancer", "/api/v1/models/cancer/versions",
                 "/api/v1/deployments/soak"]))
        took = (time.perf_counter() - started) * 1000
        window.counts[kind] = window.counts.get(kind, 0) + 1
        (window.predict_ms if kind == "predict" else window.other_ms).append(took)
        if not 200 <= response.status_code < 300:
            window.errors += 1
            key = f"{kind} {response.status_code}"
            self.errors[key] = self.errors.get(key, 0) + 1

    async def burst(self, seconds: float, concurrency: int = 32) -> float:
        """Predictions per second at ``concurrency`` in a closed loop (the maximum)."""
        import httpx

        done = 0
        stop = time.perf_counter() + seconds
        scratch = Window(0.0)

        async def worker(http: Any) -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await self.one(http, "predict", scratch)
                done += 1

        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=self.url, timeout=30, limits=limits) as http:
            started = time.perf_counter()
            await asyncio.gather(*[worker(http) for _ in range(concurrency)])
            return done / (time.perf_counter() - started)

    async def run(self, rate: float, seconds: float, windows: int, server_pid: int
                  ) -> list[Window]:
        """Offer ``rate`` requests per second of the mix, open loop, for ``seconds``."""
        import httpx

        kinds = [k for k, _ in MIX]
        weights = [w for _, w in MIX]
        out: list[Window] = []
        width = seconds / windows
        gate = asyncio.Semaphore(MAX_CONCURRENCY)
        tasks: set[asyncio.Task[None]] = set()
        limits = httpx.Limits(max_connections=MAX_CONCURRENCY)
        async with httpx.AsyncClient(base_url=self.url, timeout=30, limits=limits) as http:
            start = time.perf_counter()
            sent = 0
            while (now := time.perf_counter()) - start < seconds:
                index = int((now - start) // width)
                if index >= len(out):
                    if out:
                        self._memory(out[-1], server_pid)
                    out.append(Window(now))
                due = int((now - start) * rate)
                while sent < due:
                    sent += 1
                    kind = random.choices(kinds, weights)[0]
                    await gate.acquire()
                    task = asyncio.create_task(self.one(http, kind, out[-1]))
                    task.add_done_callback(lambda _t: gate.release())
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.sleep(0.002)
            await asyncio.gather(*tasks, return_exceptions=True)
            self._memory(out[-1], server_pid)
        return out

    @staticmethod
    def _memory(window: Window, server_pid: int) -> None:
        window.server_mb = _rss_mb(server_pid)
        window.writer_mb = sum(_rss_mb(p) for p in _children(server_pid))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _logged(home: Path) -> tuple[set[str], int]:
    """Request ids in the prediction log, and the database file's size."""
    path = home / "modelplane.db"
    conn = sqlite3.connect(path)
    try:
        ids = {r[0] for r in conn.execute(
            "SELECT request_id FROM monitoring_predictions WHERE model = 'cancer'")}
    finally:
        conn.close()
    size = sum(p.stat().st_size for p in home.glob("modelplane.db*"))
    return ids, size


def soak(seconds: float, load: float = 0.8, windows: int = 5) -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="mp-soak-"))
    home = workdir / "home"
    record = _setup(home)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(home, port, workdir / "server.log")
    rows: list[Row] = []
    try:
        import httpx

        with httpx.Client(base_url=url, timeout=30) as http:
            run_id = http.post("/api/v1/runs", json={"experiment": "soak"}).json()["id"]
            http.post("/api/v1/deployments", json={"name": "soak", "model": "cancer"}
                      ).raise_for_status()
            http.post("/api/v1/deployments/soak/canary", json={
                "version": 2, "hold": f"{max(1.0, seconds / 4):.0f}s", "min_requests": 20,
            }).raise_for_status()
            _wait_ready(http)
        driver = Soak(url, record, run_id)
        maximum = asyncio.run(driver.burst(min(10.0, max(3.0, seconds / 10))))
        driver.answered.clear()
        driver.errors.clear()
        rate = maximum * load / MIX[0][1]  # predictions are MIX[0] of the requests
        result = asyncio.run(driver.run(rate, seconds, windows, proc.pid))
        with httpx.Client(base_url=url, timeout=30) as http:
            canary = http.get("/api/v1/deployments/soak").json().get("canary") or {}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    logged, size = _logged(home)
    answered = set(driver.answered)
    lost = len(answered - logged)
    for i, w in enumerate(result):
        total = sum(w.counts.values())
        span = seconds / windows
        note = (f"{total / span:.0f} req/s, {w.errors} errors, p50 {_pct(w.predict_ms, .5):.1f}"
                f" / p99 {_pct(w.predict_ms, .99):.1f} ms, other p99 "
                f"{_pct(w.other_ms, .99):.1f} ms, writer {w.writer_mb:.0f} MB")
        rows.append(row(BENCHMARK, f"window {i + 1} server RSS", w.server_mb, "MB", note=note))
    first, last = (result[1] if len(result) > 2 else result[0]), result[-1]
    p99_first, p99_last = _pct(first.predict_ms, .99), _pct(last.predict_ms, .99)
    errors = sum(w.errors for w in result)
    rows += [
        row(BENCHMARK, "max predictions/s (burst, c=32)", maximum, "req/s",
            note=f"soak offered {load:.0%} of it for {seconds:.0f} s, {rate:.0f} req/s mixed"),
        row(BENCHMARK, "errors (non-2xx)", float(errors), "requests", target="0",
            ok=errors == 0, note=json.dumps(driver.errors) if driver.errors else ""),
        row(BENCHMARK, "predictions lost from the log", float(lost), "rows", target="0",
            ok=lost == 0, note=f"{len(answered)} answered, {len(logged)} logged"),
        row(BENCHMARK, "server RSS growth after warm-up", last.server_mb - first.server_mb,
            "MB", note=f"{first.server_mb:.0f} -> {last.server_mb:.0f} MB"),
        row(BENCHMARK, "writer RSS growth after warm-up", last.writer_mb - first.writer_mb,
            "MB", note=f"{first.writer_mb:.0f} -> {last.writer_mb:.0f} MB"),
        row(BENCHMARK, "prediction p99 last / first window", p99_last / p99_first
            if p99_first else 0.0, "x", note=f"{p99_first:.1f} -> {p99_last:.1f} ms; median of "
            f"windows' p50 {statistics.median(_pct(w.predict_ms, .5) for w in result):.1f} ms"),
        row(BENCHMARK, "database bytes per logged row", size / max(1, len(logged)), "B",
            note="SQLite file incl. every other table and index (an upper bound)"),
        row(BENCHMARK, "canary state at the end", float(canary.get("step", 0) or 0), "step",
            note=str(canary.get("state", canary))[:60]),
    ]
    shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main(quick: bool = False, seconds: float | None = None, load: float = 0.8) -> list[Row]:
    return soak(seconds or (30.0 if quick else 60.0), load)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=None,
                        help="soak duration (default 60; the issue's soak: 600)")
    parser.add_argument("--load", type=float, default=0.8, help="share of the measured max")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print_table(main(quick=args.quick, seconds=args.seconds, load=args.load),
                title="modelplane soak")
