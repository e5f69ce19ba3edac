"""Drives one pipeline run: ready steps go to their executor (distributed ones to
torchrun or Ray actors, ``@step(executor="ray")`` ones to Ray), cache hits are recorded
without running, failures are retried with backoff, and the steps below a failed one are
marked skipped (``resume`` reruns them later).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelplane.core.timeutil import utcnow
from modelplane.pipelines import artifacts
from modelplane.pipelines.cache import cache_key, explain_miss
from modelplane.pipelines.executors.base import StepResult, StepTask

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.pipelines.artifacts import ArtifactRef
    from modelplane.pipelines.executors.base import Executor
    from modelplane.pipelines.graph import Graph, Node
    from modelplane.pipelines.store import PipelineRunStore

__all__ = ["Runner", "StepEvent"]


@dataclass(frozen=True)
class StepEvent:
    """Progress of one step: ``status`` is running, retrying, succeeded, cached, failed or
    skipped; ``reason`` says why the cache hit or missed."""

    pipeline_run_id: str
    step: str
    status: str
    attempt: int = 0
    reason: str = ""
    duration_s: float | None = None
    error: str = ""


class Runner:
    def __init__(self, *, graph: Graph, run_id: str, step_ids: dict[str, str],
                 store: ArtifactStore, run_store: PipelineRunStore, executor: Executor,
                 settings: dict[str, str], on_event: Callable[[StepEvent], None] | None = None,
                 done: dict[str, dict[str, ArtifactRef]] | None = None) -> None:
        self.graph = graph
        self.run_id = run_id
        self.step_ids = step_ids
        self.store = store
        self.run_store = run_store
        self.executor = executor
        self.settings = settings
        self.on_event = on_event or (lambda event: None)
        self.outputs: dict[str, dict[str, ArtifactRef]] = dict(done or {})
        self.state = {n: ("done" if n in self.outputs else "pending") for n in graph.nodes}
        self.attempts = dict.fromkeys(graph.nodes, 0)
        self.not_before: dict[str, float] = {}
        self.started: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self._launchers: dict[str, Executor] = {}
        self._sys_path = [os.path.abspath(p or ".") for p in sys.path]

    # -- the loop --------------------------------------------------------------------------
    def execute(self) -> str:
        running: dict[Future[StepResult], tuple[str, Executor]] = {}
        order = self.graph.topological_order()
        try:
            while True:
                self._schedule(order, running)
                if not running:
                    waiting = [t for n, t in self.not_before.items()
                               if self.state[n] == "pending"]
                    if not waiting:
                        break
                    time.sleep(max(0.0, min(waiting) - time.monotonic()))
                    continue
                delay = [t - time.monotonic() for n, t in self.not_before.items()
                         if self.state[n] == "pending"]
                finished, _ = wait(list(running), timeout=max(0.0, min(delay)) if delay
                                   else None, return_when=FIRST_COMPLETED)
                for future in finished:
                    node, _executor = running.pop(future)
                    self._finish(node, future.result())
        except BaseException as exc:
            for node, _executor in running.values():
                self._fail(node, f"interrupted ({type(exc).__name__})")
            raise
        finally:
            for launcher in self._launchers.values():
                launcher.close()
        return "succeeded" if all(s == "done" for s in self.state.values()) else "failed"

    def _schedule(self, order: list[str],
                  running: dict[Future[StepResult], tuple[str, Executor]]) -> None:
        progressed = True
        while progressed:
            progressed = False
            for name in order:
                if self.state[name] != "pending":
                    continue
                node = self.graph.nodes[name]
                upstream = [self.state[u] for u in node.upstream]
                if any(s in ("failed", "skipped") for s in upstream):
                    self._skip(name)
                    progressed = True
                    continue
                if any(s != "done" for s in upstream):
                    continue
                if self.not_before.get(name, 0.0) > time.monotonic():
                    continue
                executor = self._executor_for(node)
                busy = sum(1 for _n, e in running.values() if e is executor)
                if busy >= executor.slots:
                    continue
                inputs = {k: self.outputs[e.node][self.graph.nodes[e.node].step.output_names[
                    e.index]] for k, e in node.inputs.items()}
                if self._start(node, inputs, executor, running):
                    progressed = True

    def _executor_for(self, node: Node) -> Executor:
        from modelplane.pipelines.dsl import Ray

        spec = node.step.distributed
        if isinstance(spec, Ray):
            return self._launcher("ray-train", lambda: _ray_train(self.executor))
        if spec is not None:
            return self._launcher("torchrun", self._torchrun_launcher)
        if node.step.executor == "ray" and self.executor.name != "ray":
            return self._launcher("ray", lambda: _ray_executor(self.store))
        return self.executor

    def _launcher(self, kind: str, build: Callable[[], Executor]) -> Executor:
        """The executor of ``kind`` for steps that need their own (built once per run)."""
        if kind not in self._launchers:
            self._launchers[kind] = build()
        return self._launchers[kind]

    def _torchrun_launcher(self) -> Executor:
        from modelplane.pipelines.executors.torchrun import TorchrunLauncher

        return TorchrunLauncher(self.store, self.run_store)

    # -- one step ------------------------------------------------------------------------
    def _start(self, node: Node, inputs: dict[str, ArtifactRef], executor: Executor,
               running: dict[Future[StepResult], tuple[str, Executor]]) -> bool:
        """Start (or satisfy from the cache) ``node``; True when its state changed."""
        name, step_id = node.name, self.step_ids[node.name]
        changes: dict[str, Any] = {}
        if self.attempts[name] == 0:
            self.started[name] = time.monotonic()
            changes = {"started_at": utcnow(), "executor": executor.name,
                       "params": _json_params(node.params)}
            if node.step.cache:
                key = cache_key(node.step, node.params, {k: r.digest for k, r in inputs.items()})
                hit, reason = self._lookup(node, key.key, key.parts)
                changes.update(cache_key=key.key, cache_parts=key.parts, cache_reason=reason)
                if hit is not None:
                    self._cached(node, inputs, hit, changes)
                    return True
            else:
                changes["cache_reason"] = "not cached: cache=False on this step"
        self.attempts[name] += 1
        self.run_store.update_step(step_id, inputs=inputs if self.attempts[name] == 1 else None,
                                   status="running", attempts=self.attempts[name], **changes)
        self.state[name] = "running"
        self.on_event(StepEvent(self.run_id, name, "running", self.attempts[name],
                                changes.get("cache_reason", "")))
        task = StepTask(node=name, step=node.step, step_run_id=step_id,
                        pipeline_run_id=self.run_id, pipeline=self.graph.pipeline,
                        attempt=self.attempts[name], params=node.params, inputs=inputs,
                        settings=self.settings, sys_path=self._sys_path)
        running[executor.submit(task)] = (name, executor)
        return True

    def _lookup(self, node: Node, key: str, parts: dict[str, Any]
                ) -> tuple[Any, str]:
        deleted = ""
        for candidate in self.run_store.find_cached(key):
            names = set(node.step.output_names)
            if set(candidate.outputs) != names:
                continue
            missing = [n for n, ref in candidate.outputs.items()
                       if not artifacts.exists(self.store, ref)]
            if not missing:
                return candidate, (f"hit: same source, parameters, inputs and environment as "
                                   f"step run {candidate.id[-8:]} of pipeline run "
                                   f"{candidate.pipeline_run_id[-8:]}")
            deleted = (f"miss: the cached output {missing[0]} of step run {candidate.id[-8:]} "
                       "was deleted from the artifact store")
        if deleted:
            return None, deleted
        previous = self.run_store.previous_step(self.graph.pipeline, node.name, utcnow())
        return None, explain_miss(parts, previous.cache_parts if previous else None,
                                  previous.params if previous else None)

    def _cached(self, node: Node, inputs: dict[str, ArtifactRef], hit: Any,
                changes: dict[str, Any]) -> None:
        self.run_store.update_step(
            self.step_ids[node.name], inputs=inputs, outputs=hit.outputs, status="cached",
            cached_from=hit.id, tracking_run_id=hit.tracking_run_id, ended_at=utcnow(),
            error="", **changes)
        self.outputs[node.name] = dict(hit.outputs)
        self.state[node.name] = "done"
        self.on_event(StepEvent(self.run_id, node.name, "cached", 0,
                                changes.get("cache_reason", ""), 0.0))

    def _finish(self, name: str, result: StepResult) -> None:
        node = self.graph.nodes[name]
        step_id = self.step_ids[name]
        duration = time.monotonic() - self.started.get(name, time.monotonic())
        if result.ok:
            self.run_store.update_step(step_id, outputs=result.outputs, status="succeeded",
                                       ended_at=utcnow(), error="",
                                       tracking_run_id=result.tracking_run_id)
            self.outputs[name] = dict(result.outputs or {})
            self.state[name] = "done"
            self.on_event(StepEvent(self.run_id, name, "succeeded", self.attempts[name],
                                    duration_s=duration))
            return
        error = result.error or "failed"
        if result.retryable and self.attempts[name] <= node.step.retries:
            delay = node.step.retry_delay * node.step.backoff ** (self.attempts[name] - 1)
            self.not_before[name] = time.monotonic() + delay
            self.state[name] = "pending"
            self.run_store.update_step(step_id, error=error, status="pending",
                                       tracking_run_id=result.tracking_run_id)
            self.on_event(StepEvent(self.run_id, name, "retrying", self.attempts[name],
                                    f"retry in {delay:g} s", duration, error))
            return
        self._fail(name, error, result.tracking_run_id)

    def _fail(self, name: str, error: str, tracking_run_id: str | None = None) -> None:
        changes: dict[str, Any] = {"tracking_run_id": tracking_run_id} if tracking_run_id else {}
        self.run_store.update_step(self.step_ids[name], status="failed", error=error,
                                   ended_at=utcnow(), **changes)
        self.state[name] = "failed"
        self.errors[name] = error
        duration = time.monotonic() - self.started.get(name, time.monotonic())
        self.on_event(StepEvent(self.run_id, name, "failed", self.attempts[name],
                                duration_s=duration, error=error))

    def _skip(self, name: str) -> None:
        self.run_store.update_step(self.step_ids[name], status="skipped",
                                   error="an upstream step failed")
        self.state[name] = "skipped"
        self.on_event(StepEvent(self.run_id, name, "skipped"))


def _ray_train(executor: Executor) -> Executor:
    from modelplane.pipelines.executors.ray_train import RayTrainLauncher

    return RayTrainLauncher(getattr(executor, "address", None) if executor.name == "ray"
                            else None)


def _ray_executor(store: ArtifactStore) -> Executor:
    from modelplane.pipelines.executors.ray import RayExecutor

    return RayExecutor().bind(store)


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    import json

    out = {}
    for key, value in params.items():
        try:
            json.dumps(value, allow_nan=False)
            out[key] = value
        except (TypeError, ValueError):
            out[key] = {"__repr__": repr(value)[:200]}
    return out
