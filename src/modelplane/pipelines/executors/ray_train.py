"""Distributed steps on Ray (``@step(distributed=Ray(num_workers=N))``): the ranks are Ray
actors in one placement group (one bundle per rank: its CPUs, and a GPU with
``use_gpu``), so the group starts only when every rank has a place.

Rank 0's actor picks the master address and port; every actor then joins the process
group (gloo on CPU, NCCL on GPU) and runs the function with the same
:class:`~.distributed.DistributedContext` as under torchrun (``modelplane.workers.
torchrun_rank.run_rank``), checkpoints included, so the same training function runs
under both and a retried attempt resumes from the newest checkpoint. Rank 0 stores the
outputs and returns the result record. A rank lost mid-step (its actor died) fails the
attempt; the actors and the placement group are removed after every attempt.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from modelplane.pipelines.executors.base import StepResult, StepTask, launch_in_thread

if TYPE_CHECKING:
    from modelplane.pipelines.dsl import Ray

__all__ = ["RayTrainLauncher"]

_PLACEMENT_WAIT_S = 120.0


class RayTrainLauncher:
    name = "ray-train"
    slots = 1

    def __init__(self, address: str | None = None) -> None:
        self.address = address

    def submit(self, task: StepTask) -> Future[StepResult]:
        return launch_in_thread(self.launch, task, "ray-train")

    def launch(self, task: StepTask) -> StepResult:
        from modelplane.cluster import connect
        from modelplane.pipelines.executors.ray import _first_line
        from modelplane.pipelines.executors.subprocess import encode

        ray = connect(self.address)
        from ray.util.placement_group import placement_group, remove_placement_group

        spec: Ray = task.step.distributed  # type: ignore[assignment]
        bundle = {"CPU": spec.cpus_per_worker, **({"GPU": 1} if spec.use_gpu else {})}
        group = placement_group([dict(bundle) for _ in range(spec.num_workers)],
                                strategy=spec.strategy)
        actors: list[Any] = []
        try:
            ready, _ = ray.wait([group.ready()], timeout=_PLACEMENT_WAIT_S)
            if not ready:
                return StepResult(error=f"the Ray cluster has no room for {spec.num_workers} "
                                  f"ranks of {bundle} within {_PLACEMENT_WAIT_S:g} s")
            actors = self._actors(ray, group, spec, task)
            places = ray.get([a.where.remote() for a in actors])
            local = _local_ranks([ip for ip, _port in places])
            payload = encode(task)
            runs = [a.run.remote(payload, rank, local[rank], spec.num_workers, places[0])
                    for rank, a in enumerate(actors)]
            return _gather(ray, runs, task.step.timeout)
        except ray.exceptions.RayError as exc:
            return StepResult(error=f"a rank's Ray worker was lost: {_first_line(exc)}")
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            remove_placement_group(group)

    @staticmethod
    def _actors(ray: Any, group: Any, spec: Ray, task: StepTask) -> list[Any]:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        from modelplane.cluster import worker_entry

        cls = ray.remote(worker_entry("RankWorker"))
        env = {"OMP_NUM_THREADS": str(spec.threads_per_worker),
               "MKL_NUM_THREADS": str(spec.threads_per_worker)}
        return [cls.options(
            num_cpus=spec.cpus_per_worker, num_gpus=1 if spec.use_gpu else 0, max_restarts=0,
            runtime_env={"env_vars": env},
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                placement_group=group, placement_group_bundle_index=rank),
        ).remote(task.settings) for rank in range(spec.num_workers)]

    def close(self) -> None:
        pass


def _local_ranks(ips: list[str]) -> list[int]:
    seen: dict[str, int] = {}
    out = []
    for ip in ips:
        out.append(seen.get(ip, 0))
        seen[ip] = out[-1] + 1
    return out


def _gather(ray: Any, runs: list[Any], timeout: float | None) -> StepResult:
    """Wait for every rank; the first failure (a raised error, a lost actor) ends it."""
    from modelplane.pipelines.artifacts import ArtifactRef

    deadline = None if timeout is None else time.monotonic() + timeout
    pending, records = list(runs), {}
    while pending:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return StepResult(error=f"timed out after {timeout:g} s (Ray ranks killed)")
        done, pending = ray.wait(pending, num_returns=1, timeout=left)
        for ref in done:
            record = ray.get(ref)  # a lost actor raises here (RayActorError)
            if record is not None and record.get("error"):
                return StepResult(error=f"rank {record['rank']}: {record['error']}",
                                  retryable=record.get("retryable", True),
                                  tracking_run_id=record.get("tracking_run_id"))
            records[runs.index(ref)] = record
    main = records.get(0)
    if main is None:
        return StepResult(error="rank 0 returned no result")
    return StepResult(outputs={k: ArtifactRef.from_dict(v) for k, v in main["outputs"].items()},
                      tracking_run_id=main.get("tracking_run_id"))
