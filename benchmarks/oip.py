"""Open Inference Protocol against ``/predict`` on the same model and row (issue 14:
named tensors at least 80% of ``/predict``'s throughput in the same run).

The serving benchmark's model (RandomForest, 50 trees, breast_cancer's 30 features,
registered with a DataFrame example, so ``/v2/models/cancer`` advertises one FP64 tensor
per column) under ``modelplane serve`` with one worker. Three request forms of the same
row: ``/predict/cancer`` with a JSON record; OIP with 30 named ``[1]`` FP64 tensors (what
a Triton-style client sends after reading the metadata); OIP with one ``[1, 30]`` tensor.

- ``http``: closed-loop load at concurrency 64 from another process (``wrk`` when
  installed, else the asyncio client of ``serving.py``), the three forms one after the
  other in each round (the order rotating), ratios taken within the round, medians over
  the rounds: the machine's speed drifts, adjacent runs are comparable;
- ``in process``: the app driven by ASGI calls (32 at a time) in blocks of 2,000 requests
  per form, alternating; the CPU time per request of this process (no network, no load
  generator competing for the cores).

Run: ``python benchmarks/oip.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402
from benchmarks.serving import Candidate, _check, _setup, _start, _stop, measure  # noqa: E402

BENCHMARK = "oip"
FORMS = ("predict", "oip named", "oip [1,30]")


def _bodies(record: dict[str, Any]) -> dict[str, tuple[str, bytes]]:
    names = list(record)
    named = {"inputs": [{"name": n, "shape": [1], "datatype": "FP64", "data": [record[n]]}
                        for n in names]}
    one = {"inputs": [{"name": "x", "shape": [1, len(names)], "datatype": "FP64",
                       "data": [record[n] for n in names]}]}
    return {"predict": ("/predict/cancer", json.dumps(record).encode()),
            "oip named": ("/v2/models/cancer/infer", json.dumps(named).encode()),
            "oip [1,30]": ("/v2/models/cancer/infer", json.dumps(one).encode())}


def _in_process(home: Path, bodies: dict[str, tuple[str, bytes]], rounds: int
                ) -> dict[str, float]:
    """CPU microseconds per request of the app in this process, per form (medians)."""
    os.environ["MODELPLANE_HOME"] = str(home)
    os.environ["MODELPLANE_PREDICTION_LOG"] = "false"  # the request path alone
    from modelplane.cli.serve import app_factory, export_spec

    export_spec(["models:/cancer@production"], serving_only=True, log_level="warning")
    app = app_factory()

    async def request(path: str, body: bytes) -> None:
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

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path,
                 "raw_path": path.encode(), "query_string": b"", "state": {},
                 "headers": [(b"content-type", b"application/json"),
                             (b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8080)}
        await app(scope, receive, send)
        assert status == [200], status

    async def run() -> dict[str, float]:
        inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        life = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                        "state": {}}, inbox.get, outbox.put))
        await inbox.put({"type": "lifespan.startup"})
        assert (await outbox.get())["type"] == "lifespan.startup.complete"
        await app.runtime.wait_ready(timeout=300)  # type: ignore[attr-defined]
        cost: dict[str, list[float]] = {f: [] for f in FORMS}
        blocks = 2000 // 32
        for i in range(rounds + 1):
            order = FORMS[i % 3:] + FORMS[:i % 3]
            for form in order:
                path, body = bodies[form]
                start = time.process_time()
                for _ in range(blocks):
                    await asyncio.gather(*(request(path, body) for _ in range(32)))
                if i:  # the first round warms up
                    cost[form].append((time.process_time() - start) / (blocks * 32) * 1e6)
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        life.cancel()
        print({f: [round(x) for x in c] for f, c in cost.items()}, file=sys.stderr)
        return {f: statistics.median(c) for f, c in cost.items()}

    return asyncio.run(run())


def main(quick: bool = False) -> list[Row]:
    seconds = 3.0 if quick else 8.0
    rounds = 2 if quick else 4
    workdir = Path(tempfile.mkdtemp(prefix="mp-bench-oip-"))
    try:
        record, _ = _setup(workdir)
        bodies = _bodies(record)
        server = Candidate("modelplane", [sys.executable, "-m", "modelplane", "serve",
                                          "models:/cancer@production", "--log-level",
                                          "warning"], "/predict/cancer", "/v2/health/ready",
                           bodies["predict"][1], env={"MODELPLANE_HOME": str(workdir /
                                                                             "mphome")})
        proc = _start(server, workdir)
        loads: dict[str, list[float]] = {f: [] for f in FORMS}
        ratios: dict[str, list[float]] = {"oip named": [], "oip [1,30]": []}
        try:
            _check(server)
            base = f"http://127.0.0.1:{server.port}"
            for form in FORMS:  # each form answers 200 before any load
                path, body = bodies[form]
                measure(base + path, body, 16, 1.0, workdir)
            for i in range(rounds):
                got = {}
                for form in FORMS[i % 3:] + FORMS[:i % 3]:
                    path, body = bodies[form]
                    load = measure(base + path, body, 64, seconds, workdir)
                    if load.errors:
                        raise RuntimeError(f"{form}: {load.errors} errors")
                    got[form] = load.rps
                    loads[form].append(load.rps)
                for form in ratios:
                    ratios[form].append(got[form] / got["predict"])
        finally:
            _stop(proc)
        cpu = _in_process(workdir / "mphome", bodies, rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    tool = "wrk" if shutil.which("wrk") else "asyncio client"
    rows = [row(BENCHMARK, f"{form} c=64 throughput", statistics.median(v), "req/s",
                note=f"{tool}; median of {rounds} rounds") for form, v in loads.items()]
    named = statistics.median(ratios["oip named"])
    rows.append(row(BENCHMARK, "oip named / predict c=64", named, "x", target=">= 0.8",
                    ok=named >= 0.8, note="median of per-round ratios"))
    rows.append(row(BENCHMARK, "oip [1,30] / predict c=64",
                    statistics.median(ratios["oip [1,30]"]), "x"))
    for form, us in cpu.items():
        rows.append(row(BENCHMARK, f"{form} CPU per request (in process)", us, "us"))
    rows.append(row(BENCHMARK, "oip named / predict CPU (in process)",
                    cpu["oip named"] / cpu["predict"], "x",
                    note="CPU per request; <= 1.25 is >= 80% throughput"))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print_table(main(parser.parse_args().quick), title=BENCHMARK)
