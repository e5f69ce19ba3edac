"""Check the distributed-step code paths on a machine with CUDA (prints a table; exits
non-zero when a check fails). CI has no GPU; run this by hand where one exists:

    PYTHONPATH=src python benchmarks/ddp_check.py [--rows 200000] [--epochs 3]

It trains the benchmark MLP (global batch 256) through modelplane's
``DistributedContext`` under ``torch.distributed.run``: NCCL with 1 rank and with one rank
per GPU (when there are several), bf16 autocast on GPU, and gloo with 2 CPU ranks; then
kills nothing but resumes a run from its checkpoint to check the save/load path on GPU.
Needs only torch and numpy: checkpoints go to a folder here instead of the artifact store
and metadata database (the rest of modelplane is not imported).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


class _FolderStore:
    """Blobs by sha256 in a folder, and the newest checkpoint per scope (stand-ins for the
    artifact store and the pipelines run store)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / digest).write_bytes(data)
        return digest

    def get_bytes(self, digest: str) -> bytes:
        return (self.root / digest).read_bytes()

    def add_checkpoint(self, scope: str, digest: str, meta: dict[str, Any]) -> None:
        (self.root / "latest.json").write_text(json.dumps({"digest": digest, "meta": meta}))

    def latest_checkpoint(self, scope: str) -> tuple[str, dict[str, Any]] | None:
        path = self.root / "latest.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return data["digest"], data["meta"]


def worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(SRC))
    from modelplane.pipelines.examples import train_mlp
    from modelplane.pipelines.executors.distributed import DistributedContext, process_group

    store = _FolderStore(Path(args.checkpoints))
    rank = int(os.environ["RANK"])
    with process_group(args.backend, 1) as (backend, device):
        ctx = DistributedContext(
            rank=rank, local_rank=int(os.environ["LOCAL_RANK"]),
            world_size=int(os.environ["WORLD_SIZE"]), backend=backend, device=device,
            bf16=args.bf16, attempt=1, scope="check", store=store,  # type: ignore[arg-type]
            run_store=store)  # type: ignore[arg-type]
        result = train_mlp(ctx, n_rows=args.rows, epochs=args.epochs, batch_size=256,
                           checkpoint_every=args.checkpoint_every)
    if rank == 0:
        Path(args.out).write_text(json.dumps(result))


def launch(nproc: int, backend: str, *, rows: int, epochs: int, bf16: bool = False,
           checkpoints: str | None = None, checkpoint_every: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "result.json")
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={nproc}", str(Path(__file__).resolve()), "--worker",
                   "--backend", backend, "--rows", str(rows), "--epochs", str(epochs),
                   "--out", str(out), "--checkpoints", checkpoints or str(Path(tmp, "ckpt")),
                   "--checkpoint-every", str(checkpoint_every)] + (["--bf16"] if bf16 else [])
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SRC)}
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{nproc} x {backend} failed:\n{done.stdout[-3000:]}"
                               f"\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
        result["wall_s"] = time.perf_counter() - started
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="nccl")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="")
    parser.add_argument("--checkpoints", default="")
    parser.add_argument("--checkpoint-every", type=int, default=0)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    shape = dict(rows=args.rows, epochs=args.epochs)
    results: dict[str, dict[str, Any]] = {}
    results["gloo x2 (cpu)"] = launch(2, "gloo", **shape)
    if gpus:
        results["nccl x1"] = launch(1, "nccl", **shape)
        if gpus > 1:
            results[f"nccl x{gpus}"] = launch(gpus, "nccl", **shape)
        results["nccl x1 bf16"] = launch(1, "nccl", bf16=True, **shape)
        with tempfile.TemporaryDirectory() as ckpt:  # stop after 1 epoch, resume to the end
            launch(1, "nccl", rows=args.rows, epochs=1, checkpoints=ckpt, checkpoint_every=50)
            results["nccl x1 resumed"] = launch(1, "nccl", checkpoints=ckpt,
                                                checkpoint_every=50, **shape)
    reference = results["nccl x1"]["final_loss"] if gpus else results["gloo x2 (cpu)"][
        "final_loss"]
    failures = []
    print(f"{'run':<18} {'device':<8} {'loss':>10} {'rel diff':>9} {'samples/s':>12} "
          f"{'resumed':>8}")
    for name, r in results.items():
        rel = abs(r["final_loss"] - reference) / reference
        limit = 5e-2 if "bf16" in name else 1e-2
        if rel > limit:
            failures.append(f"{name}: loss {r['final_loss']:.6g} is {rel:.1e} from "
                            f"{reference:.6g}")
        print(f"{name:<18} {r['device']:<8} {r['final_loss']:>10.6f} {rel:>9.1e} "
              f"{r['samples_per_s']:>12,.0f} {r['resumed_from_step']!s:>8}")
    if gpus and results["nccl x1 resumed"]["resumed_from_step"] is None:
        failures.append("the resumed run did not load its checkpoint")
    if not gpus:
        print("no CUDA device: only the gloo CPU path was checked")
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
