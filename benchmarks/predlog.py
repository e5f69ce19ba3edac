"""Serving throughput with the prediction log on against off (issue 8: >= 90%).

The same model and request as ``serving.py`` (RandomForest, 50 trees, breast_cancer's 30
features, one JSON record per request), ``modelplane serve models:/cancer@production`` on
one worker, loaded by ``wrk`` (else the asyncio client) at concurrency 64. Each round runs
the server with ``MODELPLANE_PREDICTION_LOG=false`` and with ``true``, back to back (the
order alternating from round to round), and takes the ratio of the two: on a shared
machine whose speed drifts by tens of percent within minutes, runs minutes apart are not
comparable, adjacent ones are. The figure is the median of the rounds' ratios. After each
run with the log on, the server is stopped (which flushes the log) and the rows written
are counted: every answered request must be in the log unless it was dropped and
counted.

Then the serving process's own cost, without the network and without wrk: the server's
app is driven in process (ASGI calls, 32 at a time) with the log switched on and off in
alternating blocks of 3,000 requests, and the process's CPU time per request is compared
block by block. On a machine whose cores are shared, the throughput ratio also carries
the writer process's contention; this figure does not.
Run: ``python benchmarks/predlog.py [--quick] [--storage database|parquet]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402
from benchmarks.serving import (  # noqa: E402
    Candidate,
    Load,
    _check,
    _setup,
    _start,
    _stop,
    measure,
)

BENCHMARK = "prediction log"
CONCURRENCY = 64


def _in_process(home: Path, record: dict[str, object], rounds: int) -> dict[str, float]:
    """CPU microseconds per request of the serving app in this process, log off and on
    (medians of alternating blocks) and the median of the blocks' differences."""
    import asyncio
    import os

    os.environ["MODELPLANE_HOME"] = str(home)
    from modelplane.cli.serve import app_factory, export_spec

    export_spec(["models:/cancer@production"], serving_only=True, log_level="warning")
    app = app_factory()
    body = json.dumps(record).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/predict/cancer",
             "raw_path": b"/predict/cancer", "query_string": b"",
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8080)}

    async def request() -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict[str, object]:
            if messages:
                return messages.pop()
            await asyncio.sleep(3600)
            return {}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))  # type: ignore[call-overload]

        await app({**scope, "state": {}}, receive, send)
        assert status == [200], status

    async def run() -> dict[str, float]:
        inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        life = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                        "state": {}}, inbox.get, outbox.put))
        await inbox.put({"type": "lifespan.startup"})
        assert (await outbox.get())["type"] == "lifespan.startup.complete"
        runtime = app.runtime  # type: ignore[attr-defined]
        await runtime.wait_ready(timeout=300)
        predlog = runtime.predlog
        for _ in range(20):
            await asyncio.gather(*(request() for _ in range(32)))
        cost: dict[bool, list[float]] = {False: [], True: []}
        blocks = 3000 // 32
        for i in range(rounds):
            for on in ((False, True) if i % 2 == 0 else (True, False)):
                predlog.enabled = on
                start = time.process_time()
                for _ in range(blocks):
                    await asyncio.gather(*(request() for _ in range(32)))
                cost[on].append((time.process_time() - start) / (blocks * 32) * 1e6)
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        life.cancel()
        return {"off": statistics.median(cost[False]), "on": statistics.median(cost[True]),
                "diff": statistics.median(b - a for a, b in zip(cost[False], cost[True],
                                                                  strict=True))}

    return asyncio.run(run())


def _logged(home: Path) -> tuple[int, int]:
    """(records logged, dropped records counted) by the home's health buckets."""
    import modelplane as mp
    from modelplane.core.config import Settings

    client = mp.Client(Settings(home=home))
    health = client.monitoring.health("cancer", "1d").overall
    return health.requests, health.dropped


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _run(candidate: Candidate, seconds: float, workdir: Path) -> tuple[Load, float, float]:
    """The load, and the CPU microseconds per request of the server and of its writer
    process during the measured run (robust figures on a busy machine)."""
    proc = _start(candidate, workdir)
    try:
        _check(candidate)
        url = f"http://127.0.0.1:{candidate.port}{candidate.url}"
        measure(url, candidate.body, 16, 1.0, workdir)  # warm-up
        time.sleep(0.5)
        pids = _children(proc.pid)
        before = _cpu_seconds(proc.pid), sum(_cpu_seconds(p) for p in pids)
        load = measure(url, candidate.body, CONCURRENCY, seconds, workdir)
        after = _cpu_seconds(proc.pid), sum(_cpu_seconds(p) for p in pids)
        n = max(load.rps * seconds, 1.0)
        return (load, (after[0] - before[0]) / n * 1e6, (after[1] - before[1]) / n * 1e6)
    finally:
        _stop(proc)


def main(quick: bool = False, storage: str = "database") -> list[Row]:
    seconds, rounds = (3.0, 2) if quick else (6.0, 5)
    workdir = Path(tempfile.mkdtemp(prefix="mp-bench-predlog-"))
    rows: list[Row] = []
    try:
        record, _ = _setup(workdir)
        home = workdir / "mphome"
        loads: dict[bool, list[Load]] = {False: [], True: []}
        cpu: dict[bool, list[float]] = {False: [], True: []}
        cpu_writer: list[float] = []
        ratios: list[float] = []
        total_requests = 0
        for i in range(rounds):
            for on in ((False, True) if i % 2 == 0 else (True, False)):
                env = {"MODELPLANE_HOME": str(home),
                       "MODELPLANE_PREDICTION_LOG": "true" if on else "false",
                       "MODELPLANE_PREDICTION_LOG_STORAGE": storage}
                candidate = Candidate(
                    "modelplane", [sys.executable, "-m", "modelplane", "serve",
                                   "models:/cancer@production", "--log-level", "warning"],
                    "/predict/cancer", "/v2/health/ready", json.dumps(record).encode(),
                    env=env)
                load, server_us, writer_us = _run(candidate, seconds, workdir)
                loads[on].append(load)
                cpu[on].append(server_us)
                if on:
                    cpu_writer.append(writer_us)
                    # wrk's count is not exact; the server answered at least these
                    total_requests += int(load.rps * seconds * 0.9)
                print(f"round {i + 1} log {'on ' if on else 'off'}: {load.rps:9.0f} req/s  "
                      f"p50 {load.p50_ms:6.2f} ms  p99 {load.p99_ms:6.2f} ms  "
                      f"errors {load.errors}  server CPU {server_us:5.1f} us/request  "
                      f"writer CPU {writer_us:5.1f} us/request", file=sys.stderr)
            ratios.append(loads[True][-1].rps / max(loads[False][-1].rps, 1e-9))
            print(f"round {i + 1}: on / off = {ratios[-1]:.3f}", file=sys.stderr)
        logged, dropped = _logged(home)
        inproc = json.loads(subprocess.run(
            [sys.executable, __file__, "--in-process", str(home), json.dumps(record),
             str(4 if quick else 8)], check=True, capture_output=True, text=True
        ).stdout.splitlines()[-1])
        ratio = statistics.median(ratios)
        on_rps = statistics.median(x.rps for x in loads[True])
        off_rps = statistics.median(x.rps for x in loads[False])
        rows += [
            row(BENCHMARK, f"log off c={CONCURRENCY} throughput", off_rps, "req/s",
                note="median of the rounds"),
            row(BENCHMARK, f"log on ({storage}) c={CONCURRENCY} throughput", on_rps, "req/s",
                note="median of the rounds"),
            row(BENCHMARK, "log on / log off", ratio, "x", target=">= 0.9", ok=ratio >= 0.9,
                note=f"median of {rounds} back-to-back pairs ({min(ratios):.2f}-"
                     f"{max(ratios):.2f})"),
            row(BENCHMARK, f"log on c={CONCURRENCY} p99",
                statistics.median(x.p99_ms for x in loads[True]), "ms"),
            row(BENCHMARK, "server CPU per request, log off", statistics.median(cpu[False]),
                "us"),
            row(BENCHMARK, "server CPU per request, log on", statistics.median(cpu[True]), "us",
                note="the serving process alone"),
            row(BENCHMARK, "writer process CPU per request", statistics.median(cpu_writer),
                "us", note="a separate process"),
            row(BENCHMARK, "in process: CPU per request, log off", inproc["off"], "us",
                note="the app driven without network or wrk"),
            row(BENCHMARK, "in process: CPU per request, log on", inproc["on"], "us"),
            row(BENCHMARK, "in process: the log's cost per request", inproc["diff"], "us",
                note=f"median of paired blocks; {inproc['diff'] / inproc['off']:+.1%}"),
            row(BENCHMARK, "records in the log (+ dropped)", logged + dropped, "rows",
                target=f">= {total_requests}", ok=logged + dropped >= total_requests,
                note=f"{dropped} dropped and counted"),
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per run, 2 rounds (else 6 s, 5)")
    parser.add_argument("--storage", default="database", choices=["database", "parquet"])
    parser.add_argument("--in-process", nargs=3, metavar=("HOME", "RECORD", "ROUNDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process:
        home, record, rounds = args.in_process
        print(json.dumps(_in_process(Path(home), json.loads(record), int(rounds))))
        sys.exit(0)
    print_table(main(quick=args.quick, storage=args.storage), title="prediction log")
