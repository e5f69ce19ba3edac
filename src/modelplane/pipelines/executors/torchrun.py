"""Distributed steps under ``torchrun`` (DDP), locally or across machines.

The launcher stores the task (cloudpickled) in the artifact store, records its digest on
the step run, and starts ``python -m torch.distributed.run ... -m
modelplane.workers.torchrun_rank DIGEST``. Each rank loads the task,
joins the process group (gloo on CPU with ``threads_per_rank`` threads, NCCL on GPU),
and calls the function with its :class:`~.distributed.DistributedContext`. Rank 0 stores
the outputs and records the result; the launcher reads it back when torchrun exits 0.
With ``nnodes > 1`` the other machines run ``modelplane pipelines join RUN`` (same
metadata database and artifact store), which starts their torchrun agents on the same
task.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.pipelines.executors.base import StepResult, StepTask, launch_in_thread

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.pipelines.dsl import Torchrun
    from modelplane.pipelines.store import PipelineRunStore

__all__ = ["TorchrunLauncher", "check_torchrun", "result_scope", "torchrun_command"]


def check_torchrun(step_name: str) -> None:
    """Fail before anything runs when torch (and so torchrun) is not installed."""
    if importlib.util.find_spec("torch") is None:
        raise InvalidArgumentError(
            f"step {step_name!r} is distributed (torchrun) but torch is not installed; "
            "install it with pip install 'modelplane[torch]'",
            details={"step": step_name, "field": "distributed"})


def checkpoint_scope(pipeline_run_id: str, node: str) -> str:
    return f"{pipeline_run_id}/{node}"


def result_scope(pipeline_run_id: str, node: str, attempt: int) -> str:
    return f"{pipeline_run_id}/{node}/result/{attempt}"


def torchrun_command(spec: Torchrun, payload_digest: str, *, node_rank: int | None = None
                     ) -> list[str]:
    command = [sys.executable, "-m", "torch.distributed.run",
               f"--nproc_per_node={spec.nproc_per_node}", f"--nnodes={spec.nnodes}",
               "--max_restarts=0"]
    if spec.nnodes == 1 and not spec.rdzv_endpoint:
        command.append("--standalone")
    else:
        command += [f"--rdzv_backend={spec.rdzv_backend}",
                    f"--rdzv_endpoint={spec.rdzv_endpoint}"]
        if node_rank is not None:
            command.append(f"--node_rank={node_rank}")
    return [*command, "-m", "modelplane.workers.torchrun_rank", payload_digest]


def worker_env(settings: dict[str, str], threads: int) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONUNBUFFERED": "1"}
    for key, value in settings.items():
        env[f"MODELPLANE_{key.upper()}"] = value
    return env


def run_torchrun(command: list[str], env: dict[str, str], timeout: float | None
                 ) -> tuple[int, str]:
    """Run torchrun (its own process group), echo its output to stderr, and return the
    exit code and the last lines (for the error message)."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    tail: collections.deque[str] = collections.deque(maxlen=12)

    def pump() -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                line = raw.decode(errors="replace")
                tail.append(line.rstrip())
                sys.stderr.write(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(5)
        return -9, f"timed out after {timeout:g} s (torchrun killed)"
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        raise
    reader.join(5)
    return code, "\n".join(tail)


class TorchrunLauncher:
    name = "torchrun"
    slots = 1

    def __init__(self, store: ArtifactStore, run_store: PipelineRunStore) -> None:
        self.store = store
        self.run_store = run_store

    def submit(self, task: StepTask) -> Future[StepResult]:
        return launch_in_thread(self.launch, task, "torchrun")

    def launch(self, task: StepTask) -> StepResult:
        from modelplane.pipelines.dsl import Torchrun
        from modelplane.pipelines.executors.subprocess import encode

        spec = task.step.distributed
        assert isinstance(spec, Torchrun)
        digest = self.store.put_bytes(encode(task))
        self.run_store.update_step(task.step_run_id, payload_digest=digest)
        command = torchrun_command(spec, digest, node_rank=0 if spec.nnodes > 1 else None)
        code, tail = run_torchrun(command, worker_env(task.settings, spec.threads_per_rank),
                                  task.step.timeout)
        found = self.run_store.latest_checkpoint(
            result_scope(task.pipeline_run_id, task.node, task.attempt))
        result = json.loads(self.store.get_bytes(found[0])) if found else None
        if code == 0 and result and result.get("error") is None:
            return _result(result)
        if result and result.get("error"):
            return StepResult(error=result["error"], retryable=result.get("retryable", True),
                              tracking_run_id=result.get("tracking_run_id"))
        return StepResult(error=f"torchrun exited with code {code}: {tail[-2000:]}")

    def close(self) -> None:
        pass


def _result(data: dict[str, Any]) -> StepResult:
    from modelplane.pipelines.artifacts import ArtifactRef

    return StepResult(outputs={k: ArtifactRef.from_dict(v) for k, v in data["outputs"].items()},
                      tracking_run_id=data.get("tracking_run_id"), meta=data.get("meta", {}))


def join(service: Any, run_or_pipeline: str, *, node_rank: int | None = None,
         wait_s: float = 300.0, poll_s: float = 0.5) -> int:
    """Start this machine's torchrun agent for the distributed step now waiting for
    nodes in ``run_or_pipeline`` (a pipeline run id, or a pipeline name: its newest
    running run). Waits up to ``wait_s`` for such a step; returns torchrun's exit code."""
    import time

    import cloudpickle

    from modelplane.core.errors import NotFoundError
    from modelplane.pipelines.executors.subprocess import _HEADER

    deadline = time.monotonic() + wait_s
    while True:
        step = _waiting_step(service, run_or_pipeline)
        if step is not None:
            break
        if time.monotonic() > deadline:
            raise NotFoundError(f"no distributed step of {run_or_pipeline!r} waited for "
                                f"nodes within {wait_s:g} s", details={"run": run_or_pipeline})
        time.sleep(poll_s)
    data = service.store.get_bytes(step.payload_digest)
    n_header, _ = _HEADER.unpack(data[:_HEADER.size])
    header = json.loads(data[_HEADER.size:_HEADER.size + n_header])
    for entry in reversed(header["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    task = cloudpickle.loads(data[_HEADER.size + n_header:])
    spec = task.step.distributed
    command = torchrun_command(spec, step.payload_digest, node_rank=node_rank)
    code, _tail = run_torchrun(command, worker_env({}, spec.threads_per_rank), None)
    return code


def _waiting_step(service: Any, run_or_pipeline: str) -> Any:
    from modelplane.core.errors import NotFoundError

    try:
        runs = [service.get_run(run_or_pipeline)]
    except NotFoundError:
        runs = [r for r in service.list_runs(run_or_pipeline, limit=5) if r.status == "running"]
        runs = [service.get_run(r.id) for r in runs]
    for run in runs:
        nodes = {n["name"]: n for n in run.graph.get("nodes", [])}
        for step in run.steps:
            spec = (nodes.get(step.name) or {}).get("distributed") or {}
            if step.status == "running" and step.payload_digest and spec.get("nnodes", 1) > 1:
                return step
    return None
