"""What runs inside Ray workers: a pipeline step attempt (:func:`run_step`), one rank of
a distributed step (:class:`RankWorker`, an actor) and a batch-inference model holder
(:class:`BatchPredictor`, an actor: the model is loaded once per actor).

Each builds a client on the settings the driver sends (the same metadata database and
artifact store) and keeps it for the life of the worker process, so a worker that runs
many steps of one run opens the database once. Nothing here imports Ray: the executors
wrap these with ``ray.remote`` on the driver.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.client import Client
    from modelplane.pipelines.executors.base import StepTask

_clients: dict[str, Client] = {}


def client_for(settings: dict[str, str]) -> Client:
    """The client of this worker process for ``settings`` (built once per settings)."""
    key = json.dumps(settings, sort_keys=True)
    client = _clients.get(key)
    if client is None:
        from modelplane.client import Client
        from modelplane.core.config import configure

        configure(**settings)
        client = _clients[key] = Client()
    return client


def decode(payload: bytes) -> tuple[dict[str, Any], StepTask]:
    """The header (settings, sys.path) and the task from an encoded step task."""
    import cloudpickle

    from modelplane.pipelines.executors.subprocess import _HEADER

    n_header, _n_body = _HEADER.unpack(payload[:_HEADER.size])
    header = json.loads(payload[_HEADER.size:_HEADER.size + n_header])
    for entry in reversed(header["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    task: StepTask = cloudpickle.loads(payload[_HEADER.size + n_header:])
    return header, task


def run_step(payload: bytes) -> bytes:
    """One attempt of one step; returns the pickled ``StepResult``."""
    from modelplane.pipelines.executors.base import StepResult, execute_task

    try:
        header, task = decode(payload)
    except Exception as exc:
        return pickle.dumps(StepResult(error=f"could not load the step on the Ray worker: "
                                       f"{type(exc).__name__}: {exc}", retryable=False))
    client = client_for(header["settings"])
    result = execute_task(task, client.artifacts, services=lambda: client.step_services,
                          timeout=task.step.timeout)
    result.meta["ray_node"] = os.uname().nodename
    return pickle.dumps(result)


class RankWorker:
    """One rank of a distributed step on Ray (an actor holding one CPU or GPU)."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings

    def where(self) -> tuple[str, int]:
        """This actor's node address and a free port on it (rank 0's is the master)."""
        import socket

        import ray

        ip = ray.util.get_node_ip_address()
        with socket.socket() as sock:
            sock.bind(("", 0))
            return ip, int(sock.getsockname()[1])

    def run(self, payload: bytes, rank: int, local_rank: int, world_size: int,
            master: tuple[str, int]) -> dict[str, Any] | None:
        from modelplane.workers.torchrun_rank import run_rank

        os.environ.update({"MASTER_ADDR": master[0], "MASTER_PORT": str(master[1]),
                           "RANK": str(rank), "WORLD_SIZE": str(world_size),
                           "LOCAL_RANK": str(local_rank)})
        _header, task = decode(payload)
        client = client_for(self.settings)
        use_gpu = bool(getattr(task.step.distributed, "use_gpu", False))
        # Ray shows each GPU actor only its own GPU, as device 0
        return run_rank(client, task, rank=rank, local_rank=local_rank,
                        world_size=world_size, device_index=0 if use_gpu else local_rank)


class BatchPredictor:
    """A model loaded once, predicting whole files (one input file -> one output file)."""

    def __init__(self, settings: dict[str, str], uri: str, fmt: str | None) -> None:
        from modelplane.serving.batch import load_predictor

        client = client_for(settings)
        self.predictor, self.uri = load_predictor(uri, client.models, fmt)

    def resolved_uri(self) -> str:
        return self.uri

    def predict(self, source: str, target: str, chunk_rows: int,
                keep: list[str] | None) -> dict[str, Any]:
        from modelplane.serving.batch import predict_with

        result = predict_with(self.predictor, self.uri, source, target,
                              chunk_rows=chunk_rows, keep=keep)
        return {"rows": result.rows, "chunks": result.chunks, "output": result.output,
                "columns": result.columns}
