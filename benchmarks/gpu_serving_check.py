"""Check serving's GPU path on a machine with CUDA; prints JSON, exits non-zero on a
failed check. CI has no GPU; run it by hand where one exists:

    PYTHONPATH=src python benchmarks/gpu_serving_check.py

A PyTorch (TorchScript) model registered in a fresh home is served by URI with the
default ``autocast="auto"``: it must load onto the GPU under bfloat16 autocast, agree with
float32 on the CPU, merge concurrent single-row requests into batches, and is timed
against the same runtime with ``autocast="off"`` (float32 on the GPU) and against the CPU.
Then ``modelplane serve`` answers an Open Inference Protocol request for it over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


async def _serve(client: Any, spec: Any, x: Any) -> dict[str, Any]:
    import numpy as np

    from modelplane.serving.runtime import ModelRuntime

    runtime = ModelRuntime([spec], models=client.models)
    started = time.perf_counter()
    await runtime.start()
    await runtime.wait_ready(timeout=300)
    handle = runtime.get("mlp")
    out: dict[str, Any] = {"load_s": round(time.perf_counter() - started, 2),
                           "device": next(handle.model.raw.parameters()).device.type}
    full, _ = await handle.infer(handle.model.prepare(x))
    one = handle.model.prepare(x[:1])
    samples = []
    for _ in range(200):
        tick = time.perf_counter()
        await handle.infer(one)
        samples.append(time.perf_counter() - tick)
    out["single_row_p50_ms"] = round(statistics.median(samples) * 1e3, 3)
    rows = [handle.model.prepare(x[i:i + 1]) for i in range(512)]
    before = handle.batcher.batches
    tick = time.perf_counter()
    answers = await asyncio.gather(*(handle.infer(r) for r in rows))
    out["concurrent_512_rows_ms"] = round((time.perf_counter() - tick) * 1e3, 2)
    out["concurrent_batches"] = handle.batcher.batches - before
    merged = np.concatenate([a[0] for a in answers])
    out["concurrent_matches_full"] = bool(np.allclose(merged, full[:512], rtol=2e-2, atol=2e-2))
    await runtime.stop()
    out["_full"] = full
    return out


def _http_check(home: Path, x: Any) -> dict[str, Any]:
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MODELPLANE_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "modelplane", "serve", "models:/mlp:1",
                             "--port", str(port), "--log-level", "warning"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                return {"ok": False, "log": proc.stdout.read() if proc.stdout else ""}
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                return {"ok": False, "log": "not ready in 300 s"}
            time.sleep(0.2)
        body = {"inputs": [{"name": "input", "shape": [8, x.shape[1]], "datatype": "FP32",
                            "data": x[:8].tolist()}]}
        answer = httpx.post(f"{url}/v2/models/mlp/infer", json=body, timeout=60)
        output = answer.json()["outputs"][0]
        metrics = httpx.get(f"{url}/metrics").text
        return {"ok": answer.status_code == 200 and output["shape"] == [8, 16]
                and 'modelplane_serving_model_loaded{model="mlp",version="1"} 1.0' in metrics,
                "status": answer.status_code, "version": answer.headers.get("x-model-version"),
                "output": {k: output[k] for k in ("name", "datatype", "shape")}}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> int:
    import numpy as np
    import torch

    from modelplane import flavors
    from modelplane.client import Client
    from modelplane.core.config import Settings
    from modelplane.serving.runtime import ServeSpec

    if not torch.cuda.is_available():
        print(json.dumps({"error": "CUDA is not available"}))
        return 1
    home = Path(tempfile.mkdtemp(prefix="mp-gpu-serving-"))
    client = Client(Settings(home=home))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 1024), torch.nn.ReLU(),
                              torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
                              torch.nn.Linear(1024, 16)).eval()
    x = np.random.default_rng(0).standard_normal((4096, 64)).astype("float32")
    version = client.log_model(None, net, "mlp", input_example=x[:4])
    cpu = flavors.load_model(client.materialize(version.artifact_digest) / "model")
    expected = cpu.predict(x)
    tick = time.perf_counter()
    for _ in range(5):
        cpu.predict(x)
    cpu_ms = (time.perf_counter() - tick) / 5 * 1e3
    bf16 = asyncio.run(_serve(client, ServeSpec("models:/mlp:1"), x))
    fp32 = asyncio.run(_serve(client, ServeSpec("models:/mlp:1", autocast="off"), x))
    scale = float(np.max(np.abs(expected))) + 1e-12
    bf16["max_rel_error_vs_cpu_fp32"] = float(np.max(np.abs(bf16.pop("_full") - expected))
                                              / scale)
    fp32["max_rel_error_vs_cpu_fp32"] = float(np.max(np.abs(fp32.pop("_full") - expected))
                                              / scale)
    http = _http_check(home, x)
    report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "cpu_4096_rows_ms": round(cpu_ms, 2), "bf16_autocast": bf16, "fp32_gpu": fp32,
              "http": http}
    checks = {
        "served on cuda": bf16["device"] == "cuda",
        "bf16 agrees with cpu fp32 (rel < 2e-2)": bf16["max_rel_error_vs_cpu_fp32"] < 2e-2,
        "bf16 differs from fp32 (autocast really on)": bf16["max_rel_error_vs_cpu_fp32"]
        > fp32["max_rel_error_vs_cpu_fp32"],
        "concurrent rows batched": bf16["concurrent_batches"] < 512,
        "concurrent results match": bf16["concurrent_matches_full"],
        "http infer": http["ok"],
    }
    report["checks"] = checks
    print(json.dumps(report, indent=2, default=str))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
