"""Check modelplane's GPU code paths on a machine with CUDA (prints a table and exits
non-zero when a check fails). CI has no GPU; run this by hand where one exists:

    PYTHONPATH=src python benchmarks/gpu_check.py

Checks: a TorchScript model saved with ``autocast="bf16"`` loads onto ``cuda``, predicts
under bfloat16 autocast, agrees with the float32 CPU result, and is timed against it.
Needs only torch and numpy (the rest of modelplane is not imported).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _time(fn: Any, sync: Any, repeat: int = 30) -> float:
    for _ in range(5):
        fn()
    sync()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def check_torch_flavor(rows: int = 8192) -> dict[str, Any]:
    import numpy as np
    import torch

    from modelplane import flavors

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 1)).eval()
    X = np.random.default_rng(0).standard_normal((rows, 32)).astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp"
        meta = flavors.save_model(net, path, input_example=X[:4], autocast="bf16")
        cpu = flavors.load_model(path)  # autocast only applies on CUDA
        gpu = flavors.load_model(path, device="cuda")
        expected, got = cpu.predict(X), gpu.predict(X)
        rel = float(np.max(np.abs(got - expected)) / (np.max(np.abs(expected)) + 1e-12))
        sync = torch.cuda.synchronize
        cpu_s = _time(lambda: cpu.predict(X), lambda: None, 10)
        gpu_s = _time(lambda: gpu.predict(X), sync)
        one = X[:1]
        gpu_1 = _time(lambda: gpu.predict(one), sync, 200)
    return {
        "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "saved_autocast": meta.extra.get("autocast"), "output_dtype": str(got.dtype),
        "max_rel_error_bf16_vs_fp32": rel, "agrees": rel < 3e-2,
        f"cpu_fp32_predict_{rows}_rows_ms": cpu_s * 1000,
        f"gpu_bf16_predict_{rows}_rows_ms": gpu_s * 1000,
        "gpu_1_row_predict_ms": gpu_1 * 1000,
    }


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("CUDA is not available here; nothing to check")
        return 0
    results = {"torch_flavor": check_torch_flavor()}
    print(json.dumps(results, indent=2))
    return 0 if all(r.get("agrees", True) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
