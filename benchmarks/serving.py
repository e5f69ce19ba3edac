"""HTTP serving: modelplane against a bare ASGI app, a plain FastAPI endpoint, ``mlflow
models serve`` and BentoML with adaptive batching, on the same model and the same row.

The model is ``RandomForestClassifier(n_estimators=50, random_state=0)`` on scikit-learn's
breast_cancer data (30 features). Every candidate runs as its own server process with one
worker on a loopback port; the load comes from another process (``wrk`` when installed,
else the asyncio client below), closed-loop at concurrency 1, 16 and 64, every request the
same single row as JSON (each framework's envelope around it: a record for modelplane
and the FastAPI endpoint, ``dataframe_records`` for MLflow, ``{"input": [[...]]}`` for
BentoML). Figures: requests/s, p50 and p99 latency, and errors.

- ``ceiling``: a bare ASGI app under uvicorn answering a fixed JSON (no framework, no
  model): the most any Python server on uvicorn can do here;
- ``floor``: a plain FastAPI endpoint around the model (the hand-written baseline);
- ``modelplane``: ``modelplane serve models:/cancer@production`` (defaults: batches of up
  to 64 rows, 2 ms at most to gather one); ``modelplane-onnx``: the same with
  ``--format onnx`` (the version's ONNX form under onnxruntime);
- ``mlflow``: ``mlflow models serve`` (venv ``benchmarks/.venvs/mlflow``);
- ``bentoml``: a BentoML service with ``batchable=True`` (venv ``benchmarks/.venvs/bentoml``).

With ``--baseline REF`` (a git commit or tag) the modelplane of that commit is served too,
as ``modelplane@REF``, from its own sources and its own home: a before/after in one run.

A peer whose venv cannot be made is left out. Targets (issue 6, GOALS.md): at
concurrency 64 at least 3x BentoML's throughput and at least half the ceiling, p99 at
most 100 ms (goal 50 ms); at concurrency 1, p50 within 1 ms of the floor. Run:
``python benchmarks/serving.py [--quick] [--only NAME ...] [--baseline REF]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import Row, print_table, row  # noqa: E402
from benchmarks.peervenv import peer_python  # noqa: E402

BENCHMARK = "serving"
CONCURRENCY = (1, 16, 64)
# the same requirements as catalogue.py, so both share one MLflow venv
MLFLOW_REQUIREMENTS = ["mlflow>=3,<4", "scikit-learn", "psycopg[binary]"]
BENTOML_REQUIREMENTS = ["bentoml>=1.4,<2", "scikit-learn"]


@dataclass
class Candidate:
    name: str
    command: list[str]
    url: str  # the prediction endpoint
    ready: str  # a GET that answers 200 once the model is loaded
    body: bytes
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- load generation ------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(url: str, body: bytes, concurrency: int, seconds: float, workdir: Path) -> Load:
    body_file = workdir / "body.json"
    body_file.write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(
        f'local f = io.open("{body_file}", "rb")\nwrk.method = "POST"\n'
        'wrk.body = f:read("*a")\nf:close()\n'
        'wrk.headers["Content-Type"] = "application/json"\n')
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
         "-s", str(script), url], capture_output=True, text=True, check=True).stdout

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Load(float(rps.group(1)) if rps else 0.0, latency("50"), latency("99"), errors)


async def _client(host: str, port: int, request: bytes, stop: float,
                  samples: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    try:
        while clock() < stop:
            started = clock()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            samples.append(clock() - started)
            if not head.startswith(b"HTTP/1.1 2"):
                errors[0] += 1
    finally:
        writer.close()


def _asyncio_load(url: str, body: bytes, concurrency: int, seconds: float) -> Load:
    """Closed-loop keep-alive clients on raw asyncio streams (used when wrk is missing)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    request = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body
    samples: list[float] = []
    errors = [0]

    async def run() -> float:
        stop = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(_client(parts.hostname or "127.0.0.1", parts.port or 80,
                                       request, stop, samples, errors)
                               for _ in range(concurrency)))
        return time.perf_counter() - started

    wall = asyncio.run(run())
    samples.sort()

    def pct(p: float) -> float:
        return samples[min(len(samples) - 1, int(p * len(samples)))] * 1e3 if samples else 0.0

    return Load(len(samples) / wall, pct(0.5), pct(0.99), errors[0])


def measure(url: str, body: bytes, concurrency: int, seconds: float, workdir: Path) -> Load:
    """Load from a separate process: wrk, or this module's asyncio client."""
    if shutil.which("wrk"):
        return _wrk(url, body, concurrency, seconds, workdir)
    out = subprocess.run(
        [sys.executable, __file__, "--load", url, str(concurrency), str(seconds)],
        input=body, capture_output=True, check=True).stdout
    return Load(**json.loads(out))


# -- candidates -----------------------------------------------------------------------
def _baseline_sources(ref: str, workdir: Path) -> Path:
    """The ``src`` folder of modelplane at commit ``ref``, extracted under ``workdir``."""
    target = workdir / "baseline"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def _register(workdir: Path, home: Path, pythonpath: Path | None) -> None:
    env = {**os.environ, "MODELPLANE_HOME": str(home), "MODELPLANE_ALLOW_PICKLE": "true"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    code = ("import pickle, pandas as pd, modelplane as mp, sys\n"
            "from sklearn.datasets import load_breast_cancer\n"
            f"model = pickle.load(open({str(workdir / 'model_df.pkl')!r}, 'rb'))\n"
            "X, _ = load_breast_cancer(return_X_y=True, as_frame=True)\n"
            "mp.Client().log_model(None, model, 'cancer', input_example=X[:5], "
            "stage='production', onnx=True)\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=workdir)


def _setup(workdir: Path, baseline: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """Train the model, register it in a modelplane home (and the baseline's), pickle it
    for the peers."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    features = [str(c) for c in frame.columns]
    model = RandomForestClassifier(n_estimators=50, random_state=0).fit(frame, target)
    twin = RandomForestClassifier(n_estimators=50, random_state=0).fit(
        frame.to_numpy(), target.to_numpy())
    assert np.array_equal(model.predict(frame), twin.predict(frame.to_numpy()))
    (workdir / "model_df.pkl").write_bytes(pickle.dumps(model))
    (workdir / "model_np.pkl").write_bytes(pickle.dumps(twin))
    record = {k: float(v) for k, v in frame.iloc[0].items()}
    (workdir / "record.json").write_text(json.dumps(record))
    _register(workdir, workdir / "mphome", None)
    if baseline is not None:
        _register(workdir, workdir / "mphome-baseline", baseline)
    return record, features


def _candidates(workdir: Path, record: dict[str, Any], features: list[str],
                only: set[str] | None, baseline: tuple[str, Path] | None = None
                ) -> list[Candidate]:
    python = sys.executable
    uvicorn_flags = ["--log-level", "warning", "--no-access-log", "--workers", "1"]
    one_row = json.dumps(record).encode()
    out = [
        Candidate("ceiling", [python, "-m", "uvicorn", "benchmarks.peers.serving_apps:bare",
                              *uvicorn_flags], "/predict", "/predict", one_row),
        Candidate("floor", [python, "-m", "uvicorn", "benchmarks.peers.serving_apps:floor",
                            "--factory", *uvicorn_flags], "/predict", "/health", one_row,
                  env={"MODEL_PATH": str(workdir / "model_np.pkl"),
                       "FEATURES": json.dumps(features)}),
        Candidate("modelplane", [python, "-m", "modelplane", "serve",
                                 "models:/cancer@production", "--log-level", "warning"],
                  "/predict/cancer", "/v2/health/ready", one_row,
                  env={"MODELPLANE_HOME": str(workdir / "mphome")}),
        Candidate("modelplane-onnx", [python, "-m", "modelplane", "serve",
                                      "models:/cancer@production", "--format", "onnx",
                                      "--log-level", "warning"],
                  "/predict/cancer", "/v2/health/ready", one_row,
                  env={"MODELPLANE_HOME": str(workdir / "mphome")}),
    ]
    if baseline is not None:
        ref, sources = baseline
        out.insert(3, Candidate(
            f"modelplane@{ref}", [python, "-m", "modelplane", "serve",
                                  "models:/cancer@production", "--log-level", "warning"],
            "/predict/cancer", "/v2/health/ready", one_row,
            env={"MODELPLANE_HOME": str(workdir / "mphome-baseline"),
                 "PYTHONPATH": str(sources), "MODELPLANE_ALLOW_PICKLE": "true"}))

    def wanted(name: str) -> bool:
        return only is None or name in only or name.startswith("modelplane@")

    if wanted("mlflow"):
        mlflow = peer_python("mlflow", MLFLOW_REQUIREMENTS)
        if mlflow is not None:
            subprocess.run([str(mlflow), str(HERE / "peers" / "mlflow_serving.py"),
                            str(workdir / "model_df.pkl"), str(workdir / "record.json"),
                            str(workdir / "mlflow_model")], check=True, capture_output=True)
            out.append(Candidate(
                "mlflow", [str(mlflow.parent / "mlflow"), "models", "serve", "-m",
                           str(workdir / "mlflow_model"), "--env-manager", "local",
                           "-h", "127.0.0.1", "-w", "1"],
                "/invocations", "/ping",
                json.dumps({"dataframe_records": [record]}).encode(),
                env={"MLFLOW_TRACKING_URI": f"file://{workdir}/mlruns",
                     # mlflow starts `uvicorn` through bash: its venv must come first
                     "PATH": f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"}))
    if wanted("bentoml"):
        bento = peer_python("bentoml", BENTOML_REQUIREMENTS)
        if bento is not None:
            out.append(Candidate(
                "bentoml", [str(bento.parent / "bentoml"), "serve",
                            "bento_service:Forest", "--working-dir", str(HERE / "peers")],
                "/predict", "/readyz",
                json.dumps({"input": [[record[f] for f in features]]}).encode(),
                env={"MODEL_PATH": str(workdir / "model_np.pkl"),
                     "BENTOML_DO_NOT_TRACK": "True"}))
    return [c for c in out if wanted(c.name)]


def _start(candidate: Candidate, logs: Path) -> subprocess.Popen[bytes]:
    import httpx

    candidate.port = _free_port()
    command = list(candidate.command)
    port_flag = "-p" if candidate.name in ("mlflow", "bentoml") else "--port"
    command += [port_flag, str(candidate.port)]
    log = (logs / f"{candidate.name}.log").open("wb")
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **candidate.env},
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    base = f"http://127.0.0.1:{candidate.port}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{candidate.name} exited; see {logs / candidate.name}.log")
        try:
            method = "POST" if candidate.ready == candidate.url else "GET"
            answer = httpx.request(method, base + candidate.ready, timeout=2,
                                   content=candidate.body if method == "POST" else None)
            if answer.status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{candidate.name} did not become ready in 180 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _check(candidate: Candidate) -> None:
    """One request, answered 200 with a prediction, before any load."""
    import httpx

    url = f"http://127.0.0.1:{candidate.port}{candidate.url}"
    answer = httpx.post(url, content=candidate.body,
                        headers={"content-type": "application/json"}, timeout=10)
    if answer.status_code != 200:
        raise RuntimeError(f"{candidate.name} answered {answer.status_code}: {answer.text}")


def run_candidates(candidates: list[Candidate], seconds: float, workdir: Path
                   ) -> dict[str, dict[int, Load]]:
    results: dict[str, dict[int, Load]] = {}
    for candidate in candidates:
        try:
            proc = _start(candidate, workdir)
        except RuntimeError as exc:
            print(f"skipping {candidate.name}: {exc}", file=sys.stderr)
            continue
        try:
            _check(candidate)
            url = f"http://127.0.0.1:{candidate.port}{candidate.url}"
            measure(url, candidate.body, 16, min(1.0, seconds), workdir)  # warm-up
            results[candidate.name] = {}
            for concurrency in CONCURRENCY:
                load = measure(url, candidate.body, concurrency, seconds, workdir)
                results[candidate.name][concurrency] = load
                print(f"{candidate.name:>10} c={concurrency:<3} {load.rps:9.0f} req/s  "
                      f"p50 {load.p50_ms:7.2f} ms  p99 {load.p99_ms:7.2f} ms  "
                      f"errors {load.errors}", file=sys.stderr)
        finally:
            _stop(proc)
    return results


def _rows(results: dict[str, dict[int, Load]], tool: str) -> list[Row]:
    rows: list[Row] = []
    for name, by_c in results.items():
        for c, load in by_c.items():
            note = f"{tool}; {load.errors} errors" if load.errors else tool
            rows.append(row(BENCHMARK, f"{name} c={c} throughput", load.rps, "req/s", note=note))
            rows.append(row(BENCHMARK, f"{name} c={c} p50", load.p50_ms, "ms"))
            rows.append(row(BENCHMARK, f"{name} c={c} p99", load.p99_ms, "ms"))
    ours = results.get("modelplane")
    if not ours:
        return rows
    if 64 in ours:
        mp64 = ours[64]
        rows.append(row(BENCHMARK, "modelplane c=64 p99", mp64.p99_ms, "ms",
                        target="<= 100 ms (goal 50)", ok=mp64.p99_ms <= 100))
        if "bentoml" in results and 64 in results["bentoml"]:
            ratio = mp64.rps / max(results["bentoml"][64].rps, 1e-9)
            rows.append(row(BENCHMARK, "modelplane / bentoml c=64", ratio, "x",
                            target=">= 3x", ok=ratio >= 3))
        if "ceiling" in results and 64 in results["ceiling"]:
            share = mp64.rps / max(results["ceiling"][64].rps, 1e-9)
            rows.append(row(BENCHMARK, "modelplane / ceiling c=64", share, "x",
                            target=">= 0.5", ok=share >= 0.5))
    for name, theirs in results.items():
        if name.startswith("modelplane@") and 64 in theirs and 64 in ours:
            ratio = ours[64].rps / max(theirs[64].rps, 1e-9)
            rows.append(row(BENCHMARK, f"modelplane / {name} c=64", ratio, "x",
                            target=">= 0.95 (no loss)", ok=ratio >= 0.95))
    if 1 in ours and "floor" in results and 1 in results["floor"]:
        gap = ours[1].p50_ms - results["floor"][1].p50_ms
        rows.append(row(BENCHMARK, "modelplane p50 - floor p50, c=1", gap, "ms",
                        target="<= 1 ms", ok=gap <= 1.0))
    return rows


def main(quick: bool = False, only: set[str] | None = None,
         baseline: str | None = None) -> list[Row]:
    seconds = 3.0 if quick else 10.0
    workdir = Path(tempfile.mkdtemp(prefix="mp-bench-serving-"))
    try:
        sources = None if baseline is None else _baseline_sources(baseline, workdir)
        record, features = _setup(workdir, sources)
        candidates = _candidates(workdir, record, features, only,
                                 None if sources is None else (baseline or "", sources))
        results = run_candidates(candidates, seconds, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _rows(results, "wrk" if shutil.which("wrk") else "asyncio client")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per point instead of 10")
    parser.add_argument("--only", nargs="*", help="candidates to run (default: all)")
    parser.add_argument("--baseline", metavar="REF",
                        help="also serve modelplane as of this git commit (before/after)")
    parser.add_argument("--load", nargs=3, metavar=("URL", "CONCURRENCY", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        url, concurrency, secs = args.load
        result = _asyncio_load(url, sys.stdin.buffer.read(), int(concurrency), float(secs))
        print(json.dumps(result.__dict__))
    else:
        print_table(main(quick=args.quick, only=set(args.only) if args.only else None,
                         baseline=args.baseline), "serving")
