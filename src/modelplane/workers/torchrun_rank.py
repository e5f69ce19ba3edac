"""One rank of a distributed step, started by torchrun (see
``modelplane.pipelines.executors.torchrun``). It builds a client on the settings torchrun
passes in its environment; its step services are what the step uses."""

from __future__ import annotations

import json
import os
import sys


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

    from modelplane.pipelines.executors.base import execute_task
    from modelplane.pipelines.executors.distributed import DistributedContext, process_group
    from modelplane.pipelines.executors.torchrun import checkpoint_scope, result_scope

    task = cloudpickle.loads(data[_HEADER.size + n_header:])
    spec = task.step.distributed
    rank = int(os.environ.get("RANK", "0"))
    run_store = client.pipeline_runs
    with process_group(spec.backend, spec.threads_per_rank) as (backend, device):
        ctx = DistributedContext(
            rank=rank, local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            world_size=int(os.environ.get("WORLD_SIZE", "1")), backend=backend,
            device=device, bf16=spec.bf16, attempt=task.attempt,
            scope=checkpoint_scope(task.pipeline_run_id, task.node), store=store,
            run_store=run_store)
        result = execute_task(task, store, services=lambda: client.step_services,
                              call=lambda fn, kw: fn(ctx, **kw), store_outputs=rank == 0)
    if rank == 0:
        record = {"outputs": {k: v.to_dict() for k, v in (result.outputs or {}).items()},
                  "tracking_run_id": result.tracking_run_id, "error": result.error,
                  "retryable": result.retryable}
        digest = store.put_bytes(json.dumps(record).encode())
        run_store.add_checkpoint(result_scope(task.pipeline_run_id, task.node, task.attempt),
                                 digest, {})
    if result.error is not None:
        sys.stderr.write(f"rank {rank}: step {task.node} failed: {result.error}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
