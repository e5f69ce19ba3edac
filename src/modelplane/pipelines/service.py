"""``PipelineService``: run, resume, list and show pipeline runs, and follow lineage.

Lineage goes both ways: from a pipeline run to its step runs, their input and output
artifacts, the tracking runs they opened and the model versions they registered; and
from a model version (``models:/churn:7``) back to the step and pipeline run that
registered it and every artifact (datasets included) upstream of that step.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, InvalidStateError, NotFoundError
from modelplane.core.ids import new_id
from modelplane.core.timeutil import utcnow
from modelplane.pipelines import artifacts
from modelplane.pipelines.dsl import Pipeline, TrainingPipeline
from modelplane.pipelines.entities import DONE, PipelineRun, StepRun
from modelplane.pipelines.runner import Runner, StepEvent, _json_params

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.pipelines.artifacts import ArtifactRef
    from modelplane.pipelines.graph import Graph
    from modelplane.pipelines.schedule import SchedulerService
    from modelplane.pipelines.services import StepServices
    from modelplane.pipelines.store import PipelineRunStore, ScheduleStore

__all__ = ["ModelLineage", "PipelineRun", "PipelineService", "default_service", "load_pipeline"]


@dataclass(frozen=True)
class ModelLineage:
    """Where a model version came from: the pipeline run and step that registered it,
    the steps upstream of that one (with their artifacts and tracking runs), and the
    datasets (DataFrame/Arrow artifacts) among those artifacts."""

    model: str
    version: int
    pipeline_run: PipelineRun
    step: StepRun
    upstream: list[StepRun]
    datasets: list[ArtifactRef] = field(default_factory=list)

    @property
    def tracking_run_ids(self) -> list[str]:
        return [s.tracking_run_id for s in [*self.upstream, self.step] if s.tracking_run_id]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version,
                "pipeline": self.pipeline_run.pipeline,
                "pipeline_run_id": self.pipeline_run.id, "params": self.pipeline_run.params,
                "step": self.step.to_dict(), "upstream": [s.to_dict() for s in self.upstream],
                "datasets": [d.to_dict() for d in self.datasets],
                "tracking_run_ids": self.tracking_run_ids}


class PipelineService:
    """Runs pipelines and reads their records. ``run_store`` and ``schedules`` hold the
    records, ``store`` the artifacts between steps, ``services()`` what a step in this
    process may use (``current.services``: built when a step first asks, so a cached run
    never builds them), and ``worker_settings`` what a subprocess or torchrun worker is
    configured with to build its own."""

    def __init__(self, run_store: PipelineRunStore, store: ArtifactStore, *,
                 services: Callable[[], StepServices], schedules: ScheduleStore,
                 worker_settings: dict[str, str]) -> None:
        self.run_store = run_store
        self.store = store
        self.services = services
        self.schedules = schedules
        self.worker_settings = worker_settings

    @cached_property
    def scheduler(self) -> SchedulerService:
        """Schedules, triggers and the scheduler loop on the same database."""
        from modelplane.pipelines.schedule import SchedulerService

        return SchedulerService(self.schedules, self)

    # -- running -------------------------------------------------------------------------
    def run(self, pipeline: Pipeline | str | type[TrainingPipeline],
            params: Mapping[str, Any] | None = None, *, executor: Any = None,
            on_event: Callable[[StepEvent], None] | None = None,
            trigger: str = "manual", workdir: str | None = None) -> PipelineRun:
        """Build ``pipeline`` (an object or a ``module:attr`` reference) with ``params``,
        validate it, record the run and execute it. Returns the finished run (its
        ``status`` says whether every step succeeded)."""
        pipeline = load_pipeline(pipeline, workdir)
        graph = self._build(pipeline, params)
        run_id = new_id()
        now = utcnow()
        run = PipelineRun(
            id=run_id, pipeline=pipeline.name, ref=pipeline.ref, workdir=workdir or os.getcwd(),
            params=_json_params(graph.params), graph=graph.to_dict(), status="running",
            attempt=1, trigger=trigger, host=socket.gethostname(), pid=os.getpid(), error="",
            created_at=now, ended_at=None)
        steps = [_pending(run_id, node.name, node.step.ref) for node in graph.nodes.values()]
        self.run_store.create_run(run, steps)
        return self._execute(graph, run_id, {s.name: s.id for s in steps}, executor, on_event)

    def _build(self, pipeline: Pipeline, params: Mapping[str, Any] | None) -> Graph:
        graph = pipeline.build(params)
        from modelplane.pipelines.dsl import Ray

        for node in graph.nodes.values():
            if node.step.distributed is not None:
                from modelplane.pipelines.executors.torchrun import check_torchrun

                check_torchrun(node.name)
            if isinstance(node.step.distributed, Ray) or node.step.executor == "ray":
                from modelplane.cluster import require_ray

                require_ray(f"step {node.name!r}")
        return graph

    def _execute(self, graph: Graph, run_id: str, step_ids: dict[str, str], executor: Any,
                 on_event: Callable[[StepEvent], None] | None,
                 done: dict[str, dict[str, ArtifactRef]] | None = None) -> PipelineRun:
        owned = not hasattr(executor, "submit")
        try:
            chosen = _executor(executor).bind(self.store, self.services) if owned else executor
        except Exception as exc:  # e.g. no Ray cluster: the run fails, resumable later
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.run_store.update_run(run_id, status="failed", ended_at=utcnow(),
                                      error=f"executor: {message}"[:4000])
            raise
        runner = Runner(graph=graph, run_id=run_id, step_ids=step_ids, store=self.store,
                        run_store=self.run_store, executor=chosen,
                        settings=self.worker_settings, on_event=on_event, done=done)
        status = "failed"
        try:
            status = runner.execute()
        finally:
            if owned:
                chosen.close()
            error = "; ".join(f"{n}: {e}" for n, e in runner.errors.items())[:4000]
            self.run_store.update_run(run_id, status=status, ended_at=utcnow(),
                                      error=error if status == "failed" else "")
        return self.run_store.get_run(run_id)

    def resume(self, run_id: str, *, executor: Any = None,
               on_event: Callable[[StepEvent], None] | None = None) -> PipelineRun:
        """Run the failed and unfinished steps of ``run_id`` again, keeping the steps that
        succeeded (while their outputs exist). The run keeps its id; ``attempt`` grows."""
        old = self.run_store.get_run(run_id)
        if old.status == "succeeded":
            return old
        if old.status == "running" and _alive_elsewhere(old):
            raise InvalidStateError(
                f"pipeline run {run_id} is still running (pid {old.pid} on {old.host})",
                details={"pipeline_run_id": run_id})
        pipeline = load_pipeline(old.ref, old.workdir)
        graph = self._build(pipeline, old.params)
        if set(graph.nodes) != {s.name for s in old.steps}:
            raise InvalidStateError(
                f"the steps of {old.pipeline} changed since run {run_id} "
                f"({sorted(s.name for s in old.steps)} -> {sorted(graph.nodes)}); start a "
                "new run instead", details={"pipeline_run_id": run_id})
        done = {s.name: s.outputs for s in old.steps if s.status in DONE
                and all(artifacts.exists(self.store, r) for r in s.outputs.values())}
        for s in old.steps:
            if s.name not in done:
                self.run_store.update_step(s.id, status="pending", error="", attempts=0,
                                           started_at=None, ended_at=None)
        self.run_store.update_run(run_id, status="running", attempt=old.attempt + 1,
                                  ended_at=None, error="", host=socket.gethostname(),
                                  pid=os.getpid())
        return self._execute(graph, run_id, {s.name: s.id for s in old.steps}, executor,
                             on_event, done)

    # -- reading -------------------------------------------------------------------------
    def get_run(self, run_id: str) -> PipelineRun:
        return self.run_store.get_run(run_id)

    def resolve_run_id(self, ref: str) -> str:
        """The full id of the pipeline run ``ref`` names: its id, a unique start of it, the
        short id printed (its last characters), or a pipeline's name (its newest run).
        Ambiguous: an error naming the runs."""
        from modelplane.core.refs import LOOKUP_LIMIT, is_fragment, is_full_id, pick_one

        ref = str(ref).strip()
        if is_full_id(ref):
            return ref
        found = self.run_store.runs_matching(ref, LOOKUP_LIMIT) if is_fragment(ref) else []
        if not found and ref:
            found = [(r.id, r.pipeline) for r in self.run_store.list_runs(ref, 1)]
        return pick_one("pipeline run", ref, found, lambda r: f"{r[0]} ({r[1]})",
                        "id, the start or end of an id, or a pipeline name")[0]

    def list_runs(self, pipeline: str | None = None, *, limit: int = 50) -> list[PipelineRun]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgumentError(f"limit: expected 1..10000, got {limit!r}",
                                       details={"field": "limit"})
        return self.run_store.list_runs(pipeline, limit)

    def load_output(self, run_id: str, step: str, name: str = "output") -> Any:
        """The value a step of a run produced, read back from the artifact store."""
        return artifacts.load_value(self.store, self.get_run(run_id).output(step, name))

    # -- lineage -------------------------------------------------------------------------
    def model_lineage(self, model: str, version: int | str) -> ModelLineage:
        """Which pipeline run, step and datasets produced ``model`` version ``version``."""
        number = int(version)
        step = self.run_store.step_for_model_version(model, number)
        if step is None:
            tracking_run = self.services().registry.get_version(model, number).run_id
            step = self._step_by_tracking_run(tracking_run) if tracking_run else None
        if step is None:
            raise NotFoundError(f"no pipeline run produced models:/{model}:{number}",
                                details={"model": model, "version": number})
        run = self.run_store.get_run(step.pipeline_run_id)
        names = _ancestors(run.graph, step.name)
        upstream = [s for s in run.steps if s.name in names]
        seen: dict[str, ArtifactRef] = {}
        for s in [*upstream, step]:
            for ref in [*s.inputs.values(), *s.outputs.values()]:
                if ref.kind in ("dataframe", "arrow"):
                    seen.setdefault(ref.digest, ref)
        return ModelLineage(model, number, run, step, upstream, list(seen.values()))

    def _step_by_tracking_run(self, tracking_run_id: str) -> StepRun | None:
        run = self.services().tracking.get_run(tracking_run_id)
        pipeline_run_id = run.tags.get("pipeline_run_id")
        if not pipeline_run_id:
            return None
        return self.run_store.get_run(pipeline_run_id).step(run.tags["pipeline_step"])

    def run_lineage(self, run_id: str) -> dict[str, Any]:
        """Everything a run touched: per step its inputs, outputs, tracking run and the
        model versions it registered."""
        run = self.run_store.get_run(run_id)
        versions: dict[str, list[str]] = {}
        for step_id, name, version in self.run_store.model_versions_of_steps(
                [s.id for s in run.steps]):
            versions.setdefault(step_id, []).append(f"models:/{name}:{version}")
        return {"pipeline_run_id": run.id, "pipeline": run.pipeline, "params": run.params,
                "steps": [{"name": s.name, "status": s.status,
                           "inputs": {k: v.digest for k, v in s.inputs.items()},
                           "outputs": {k: v.digest for k, v in s.outputs.items()},
                           "tracking_run_id": s.tracking_run_id,
                           "model_versions": versions.get(s.id, [])} for s in run.steps]}

    def artifact_lineage(self, digest: str) -> dict[str, list[dict[str, str]]]:
        """The step runs that wrote and that read artifact ``digest``."""
        out: dict[str, list[dict[str, str]]] = {"produced_by": [], "consumed_by": []}
        for step, direction in self.run_store.steps_using(digest):
            key = "produced_by" if direction == "out" else "consumed_by"
            out[key].append({"pipeline_run_id": step.pipeline_run_id, "step": step.name,
                             "step_run_id": step.id, "status": step.status})
        return out


def _pending(run_id: str, name: str, ref: str) -> StepRun:
    return StepRun(id=new_id(), pipeline_run_id=run_id, name=name, step=ref[:512],
                   status="pending", cache_key=None, cache_parts=None, cache_reason="",
                   cached_from=None, attempts=0, executor="", params={}, tracking_run_id=None,
                   error="", started_at=None, ended_at=None)


def _ancestors(graph: dict[str, Any], name: str) -> set[str]:
    nodes = {n["name"]: n for n in graph.get("nodes", [])}
    found: set[str] = set()
    frontier = [name]
    while frontier:
        node = nodes.get(frontier.pop())
        if node is None:
            continue
        for dep in [v[0] for v in node["inputs"].values()] + list(node["after"]):
            if dep not in found:
                found.add(dep)
                frontier.append(dep)
    return found


def _alive_elsewhere(run: PipelineRun) -> bool:
    if run.pid is None or (run.pid == os.getpid() and run.host == socket.gethostname()):
        return False
    if run.host != socket.gethostname():
        return True  # cannot tell from here; refuse rather than run it twice
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _executor(executor: Any) -> Any:
    if executor is None or executor == "local":
        from modelplane.pipelines.executors.local import LocalExecutor

        return LocalExecutor()
    if executor == "subprocess" or (isinstance(executor, str)
                                    and executor.startswith("subprocess:")):
        from modelplane.pipelines.executors.subprocess import SubprocessExecutor

        workers = executor.partition(":")[2]
        return SubprocessExecutor(int(workers) if workers else None)
    if executor == "ray" or (isinstance(executor, str) and executor.startswith("ray:")):
        from modelplane.pipelines.executors.ray import RayExecutor

        return RayExecutor(executor.partition(":")[2] or None)
    raise InvalidArgumentError(f"unknown executor {executor!r}; expected local, subprocess, "
                               "subprocess:N, ray or ray:ADDRESS", details={"field": "executor"})


def load_pipeline(pipeline: Any, workdir: str | None = None) -> Pipeline:
    """A :class:`Pipeline` from itself, a ``TrainingPipeline`` subclass, or a reference
    ``package.module:attr`` / ``path/to/file.py:attr`` (imported with ``workdir`` on
    ``sys.path``)."""
    if isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, type) and issubclass(pipeline, TrainingPipeline):
        return pipeline.as_pipeline()
    if not isinstance(pipeline, str) or ":" not in pipeline:
        raise InvalidArgumentError(
            f"expected a pipeline or a reference 'module:attr', got {pipeline!r}",
            details={"field": "pipeline"})
    target, _, attr = pipeline.rpartition(":")
    base = workdir or os.getcwd()
    if base not in sys.path:
        sys.path.insert(0, base)
    try:
        if target.endswith(".py") or os.sep in target:
            module = _import_file(Path(base, target))
        else:
            module = importlib.import_module(target)
    except ImportError as exc:
        raise InvalidArgumentError(f"cannot import {target!r} for pipeline {pipeline!r}: {exc}",
                                   details={"field": "pipeline"}) from exc
    value: Any = module
    for part in attr.split("."):
        value = getattr(value, part, None)
        if value is None:
            raise InvalidArgumentError(f"{target!r} has no pipeline {attr!r}",
                                       details={"field": "pipeline"})
    if isinstance(value, type) and issubclass(value, TrainingPipeline):
        return value.as_pipeline()
    if not isinstance(value, Pipeline):
        raise InvalidArgumentError(f"{pipeline!r} is a {type(value).__name__}, not a "
                                   "@pipeline", details={"field": "pipeline"})
    return value


def _import_file(path: Path) -> Any:
    path = path.resolve()
    if not path.is_file():
        raise ImportError(f"no file {path}")
    name = f"_modelplane_pipeline_{abs(hash(str(path))):x}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)  # workers cannot import it by this name
    spec.loader.exec_module(module)
    return module


def default_service() -> PipelineService:
    """The configured platform's pipeline service (for module-level conveniences:
    ``Pipeline.run()`` and ``trigger()`` without a service)."""
    from modelplane.core.defaults import default_platform

    service: PipelineService = default_platform().pipelines
    return service
