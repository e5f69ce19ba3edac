"""One rank of a distributed step, started by torchrun (see
``modelplane.pipelines.executors.torchrun``) or by a Ray actor
(``modelplane.workers.ray_tasks.RankWorker``). It builds a client on the settings it is
given; its step services are what the step uses."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.client import Client
    from modelplane.pipelines.executors.base import StepTask


def run_rank(client: Client, task: StepTask, *, rank: int, local_rank: int, world_size: int,
             device_index: int | None = None) -> dict[str, Any] | None:
    """Join the process group (``MASTER_ADDR``/``MASTER_PORT`` from the environment), run
    the step with its :class:`DistributedContext`; rank 0 stores the outputs and returns
    the result record (None on the other ranks, unless the step failed there)."""
    from modelplane.pipelines.executors.base import execute_task
    from modelplane.pipelines.executors.distributed import DistributedContext, process_group
    from modelplane.pipelines.executors.torchrun import checkpoint_scope

    spec = task.step.distributed
    assert spec is not None
    store = client.artifacts
    run_store = client.pipeline_runs
    with process_group(spec.backend, spec.threads_per_rank, device_index) as (backend, device):
        ctx = DistributedContext(
            rank=rank, local_rank=local_rank, world_size=world_size, backend=backend,
            device=device, bf16=spec.bf16, attempt=task.attempt,
            scope=checkpoint_scope(task.pipeline_run_id, task.node), store=store,
            run_store=run_store)
        result = execute_task(task, store, services=lambda: client.step_services,
                              call=lambda fn, kw: fn(ctx, **kw), store_outputs=rank == 0)
    if rank != 0 and result.error is None:
        return None
    return {"outputs": {k: v.to_dict() for k, v in (result.outputs or {}).items()},
            "tracking_run_id": result.tracking_run_id, "error": result.error,
            "retryable": result.retryable, "rank": rank}


def main(payload_digest: str) -> int:
    from modelplane.client import Client
    from modelplane.pipelines.executors.subprocess import _HEADER

    client = Client()
    store = client.artifacts
    data = store.get_bytes(payload_digest)
    n_header, _n_body = _HEADER.unpack(data[:_HEADER.size])
    header = json.loads(data[_HEADER.size:_HEADER.size + n_header])
    for entry in reversed(header["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    import cloudpickle

    from modelplane.pipelines.executors.torchrun import result_scope

    task = cloudpickle.loads(data[_HEADER.size + n_header:])
    rank = int(os.environ.get("RANK", "0"))
    record = run_rank(client, task, rank=rank, local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                      world_size=int(os.environ.get("WORLD_SIZE", "1")))
    if rank == 0 and record is not None:
        digest = store.put_bytes(json.dumps(record).encode())
        client.pipeline_runs.add_checkpoint(
            result_scope(task.pipeline_run_id, task.node, task.attempt), digest, {})
    if record is not None and record["error"] is not None:
        sys.stderr.write(f"rank {rank}: step {task.node} failed: {record['error']}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
