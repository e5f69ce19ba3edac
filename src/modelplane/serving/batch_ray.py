"""Batch inference on a Ray cluster: many input files, one output file each.

A pool of Ray actors (``modelplane.workers.ray_tasks.BatchPredictor``) each loads the
model once (verified, warmed up, as the server loads it) and predicts whole files, in
chunks of ``chunk_rows`` rows, with the same code as the one-machine ``predict``
(:func:`~modelplane.serving.batch.predict_with`), so the output of each file is the same
as the local command's. The output is partitioned like the input: ``in/part-007.parquet``
becomes ``OUT/part-007.parquet``. Files go to actors as actors free up (Ray's
``ActorPool``); the driver sees only paths and row counts, never rows.

Inputs and the output directory must be reachable by every worker under the same path or
URL (a shared filesystem, or an object store such as ``s3://``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.core.errors import InvalidArgumentError

__all__ = ["RayBatchResult", "expand_inputs", "predict_files_ray"]


@dataclass(frozen=True)
class RayBatchResult:
    rows: int
    files: int
    seconds: float
    output: str
    model_uri: str
    workers: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def expand_inputs(input: str) -> list[str]:
    """The files ``input`` names: a file, a directory (its ``*.parquet``, ``*.csv``,
    ``*.jsonl``) or a glob, sorted."""
    import glob

    path = Path(input)
    if path.is_dir():
        found = sorted(str(p) for p in path.iterdir()
                       if p.suffix.lower() in (".parquet", ".csv", ".jsonl", ".ndjson"))
    elif any(c in input for c in "*?["):
        found = sorted(glob.glob(input))
    else:
        found = [input] if path.is_file() else []
    if not found:
        raise InvalidArgumentError(f"--input: no input files at {input!r}",
                                   details={"field": "input"})
    return found


def predict_files_ray(uri: str, inputs: list[str], output_dir: str | os.PathLike[str], *,
                      settings: dict[str, str], address: str | None = None,
                      workers: int | None = None, chunk_rows: int = 65_536,
                      keep: list[str] | None = None, format: str | None = None,
                      num_cpus: float = 1.0) -> RayBatchResult:
    """Predict every file of ``inputs`` with ``uri`` on the Ray cluster at ``address``
    into ``output_dir`` (one Parquet file per input, named after it). ``workers``: model
    actors (default: as many as the cluster has CPUs, at most one per file)."""
    from modelplane.cluster import connect, worker_entry

    if chunk_rows < 1:
        raise InvalidArgumentError("chunk_rows must be >= 1", details={"field": "chunk_rows"})
    names = [Path(p).stem + ".parquet" for p in inputs]
    if len(set(names)) != len(names):
        raise InvalidArgumentError("--input: two input files share a name; the output keeps "
                                   "one file per input name", details={"field": "input"})
    ray = connect(address)
    from ray.util import ActorPool

    count = workers or max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus))
    count = min(count, len(inputs))
    target = Path(output_dir)
    target.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cls = ray.remote(worker_entry("BatchPredictor")).options(num_cpus=num_cpus, max_restarts=0)
    actors = [cls.remote(settings, uri, format) for _ in range(count)]
    try:
        pool = ActorPool(actors)
        jobs = [(src, str(target / name)) for src, name in zip(inputs, names, strict=True)]
        results: list[dict[str, Any]] = list(pool.map(
            lambda actor, job: actor.predict.remote(job[0], job[1], chunk_rows, keep), jobs))
        resolved = ray.get(actors[0].resolved_uri.remote())
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None)
        cause = cause if isinstance(cause, Exception) else exc
        message = getattr(cause, "message", None) or (str(cause).strip().splitlines()
                                                       or [type(cause).__name__])[0]
        raise InvalidArgumentError(f"batch inference on Ray failed: {message}",
                                   details={"field": "input"}) from None
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
    return RayBatchResult(rows=sum(r["rows"] for r in results), files=len(results),
                          seconds=time.perf_counter() - started, output=str(target),
                          model_uri=resolved, workers=count)
