"""The context a distributed step's function receives as ``ctx`` (one per rank).

``rank``, ``local_rank``, ``world_size``, ``device`` (``cuda:LOCAL_RANK`` under NCCL,
``cpu`` under gloo), ``sampler(dataset)`` (a ``DistributedSampler``),
``local_batch_size(global)``, ``wrap(model)`` (DDP on the right device), ``autocast()``
(bfloat16 on GPU when the step asked for it), ``all_reduce_mean`` and checkpoints:
``save_checkpoint(state)`` stores ``torch.save`` bytes in the artifact store (rank 0
writes; every rank waits for it) and ``load_checkpoint()`` returns the newest one of
this step in this pipeline run, so a retried or resumed step continues from it.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.pipelines.store import PipelineRunStore

__all__ = ["DistributedContext"]


class DistributedContext:
    def __init__(self, *, rank: int, local_rank: int, world_size: int, backend: str,
                 device: Any, bf16: bool, attempt: int, scope: str, store: ArtifactStore,
                 run_store: PipelineRunStore) -> None:
        self.rank = rank
        self.local_rank = local_rank
        self.world_size = world_size
        self.backend = backend
        self.device = device
        self.bf16 = bf16
        self.attempt = attempt
        self._scope = scope
        self._store = store
        self._run_store = run_store

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- data ----------------------------------------------------------------------------
    def sampler(self, dataset: Any, *, shuffle: bool = True, seed: int = 0,
                drop_last: bool = False) -> Any:
        """A ``DistributedSampler`` giving this rank its share of ``dataset`` (anything
        with ``len``); call ``set_epoch(epoch)`` on it each epoch."""
        from torch.utils.data.distributed import DistributedSampler

        return DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank,
                                  shuffle=shuffle, seed=seed, drop_last=drop_last)

    def local_batch_size(self, global_batch_size: int) -> int:
        """This rank's batch so that the ranks together take ``global_batch_size``: then
        DDP's gradient average equals one process's step on the global batch."""
        if global_batch_size % self.world_size:
            raise ValueError(f"global batch {global_batch_size} does not split over "
                             f"{self.world_size} ranks")
        return global_batch_size // self.world_size

    # -- model ---------------------------------------------------------------------------
    def wrap(self, model: Any) -> Any:
        """``model`` on this rank's device inside DistributedDataParallel."""
        from torch.nn.parallel import DistributedDataParallel

        model = model.to(self.device)
        if self.device.type == "cuda":
            return DistributedDataParallel(model, device_ids=[self.device.index])
        return DistributedDataParallel(model)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bfloat16 autocast on GPU when the step set ``bf16=True``; otherwise nothing."""
        if self.bf16 and self.device.type == "cuda":
            import torch

            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def all_reduce_mean(self, value: float) -> float:
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([float(value)], device=self.device, dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size

    def barrier(self) -> None:
        import torch.distributed as dist

        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    # -- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any], **meta: Any) -> str | None:
        """Rank 0 stores ``state`` (``torch.save``) and records it as the newest
        checkpoint; returns its digest on rank 0, None elsewhere. All ranks wait."""
        digest = None
        if self.is_main:
            import torch

            buffer = io.BytesIO()
            torch.save(state, buffer)
            digest = self._store.put_bytes(buffer.getvalue())
            self._run_store.add_checkpoint(self._scope, digest,
                                           {**_plain(meta), "attempt": self.attempt})
        self.barrier()
        return digest

    def load_checkpoint(self, map_location: Any = None) -> dict[str, Any] | None:
        """The newest checkpoint of this step in this pipeline run, or None."""
        found = self._run_store.latest_checkpoint(self._scope)
        if found is None:
            return None
        import torch

        data = self._store.get_bytes(found[0])
        state: dict[str, Any] = torch.load(io.BytesIO(data), map_location=map_location or "cpu",
                                           weights_only=False)
        return state

    def __repr__(self) -> str:
        return (f"<DistributedContext rank={self.rank}/{self.world_size} "
                f"backend={self.backend} device={self.device}>")


def _plain(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, int | float | str | bool) or v is None else repr(v)
            for k, v in meta.items()}


@contextlib.contextmanager
def process_group(backend: str | None, threads: int, device_index: int | None = None
                  ) -> Iterator[tuple[str, Any]]:
    """Initialise the process group from the environment torchrun (or the Ray launcher)
    sets; yield (backend, device). ``device_index``: the CUDA device (default
    ``LOCAL_RANK``; 0 under Ray, which shows each rank only its own GPU)."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    local_rank = (int(os.environ.get("LOCAL_RANK", "0")) if device_index is None
                  else device_index)
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group(backend, device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group(backend)
    try:
        yield backend, device
    finally:
        dist.destroy_process_group()
