"""The Ray executor: each step attempt is a Ray task on a cluster (``ray start --head`` on
one machine, many machines, or KubeRay on Kubernetes).

The driver (where ``modelplane pipelines run`` runs) keeps the scheduling, the cache and
the records exactly as locally; only the function runs on the cluster, in
``modelplane.workers.ray_tasks.run_step``, which builds a client on the run's settings
(the same metadata database and artifact store, which must therefore be reachable from
the workers: PostgreSQL and an object store on a real cluster), loads the inputs by
digest, calls the function and stores the outputs. What travels through Ray is the
pickled task (the function and the input references) one way and a small
:class:`~.base.StepResult` back, so a step's result is the same object whichever
executor ran it, and no output, however large, passes through Ray's object store.

Retries are the runner's (``@step(retries=)``): each attempt is a new Ray task with
``max_retries=0``, so every attempt is recorded. A timeout cancels the task
(``ray.cancel(force=True)``, which kills its worker); so does closing the executor or
interrupting the run. A worker or node lost mid-step fails that attempt (retryable). The
step's prints reach the driver's terminal through Ray's log forwarding.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from modelplane.cluster import connect, require_ray, worker_entry
from modelplane.core.errors import InvalidArgumentError
from modelplane.pipelines.executors.base import StepResult, StepTask

if TYPE_CHECKING:
    from modelplane.pipelines.dsl import Step

__all__ = ["RayExecutor", "connect", "ray_options", "require_ray"]

_GRACE_S = 10.0


def ray_options(step: Step, runtime_env: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Ray task options of ``step``: its resources (one CPU by default), no Ray-level
    retries (the runner retries, recording each attempt) and the runtime environment."""
    resources = dict(step.resources)
    options: dict[str, Any] = {"num_cpus": resources.pop("num_cpus", 1.0),
                               "max_retries": 0, "name": f"modelplane:{step.name}"}
    if "num_gpus" in resources:
        options["num_gpus"] = resources.pop("num_gpus")
    if "memory" in resources:
        options["memory"] = int(resources.pop("memory"))
    if resources:
        options["resources"] = resources
    if runtime_env:
        options["runtime_env"] = runtime_env
    return options


class RayExecutor:
    """Runs step attempts as Ray tasks. ``slots``: attempts in flight at once (default:
    twice the cluster's CPUs, so Ray always has the next task queued);
    ``runtime_env``: Ray's runtime environment for every task (``working_dir`` to ship
    code, ``pip`` for requirements, ``env_vars`` for credentials)."""

    name = "ray"

    def __init__(self, address: str | None = None, *, slots: int | None = None,
                 runtime_env: dict[str, Any] | None = None) -> None:
        require_ray()
        if slots is not None and (isinstance(slots, bool) or not isinstance(slots, int)
                                  or slots < 1):
            raise InvalidArgumentError(f"slots: expected an integer >= 1, got {slots!r}",
                                       details={"field": "slots"})
        self.address = address
        self.runtime_env = runtime_env
        self._slots = slots
        self.slots = slots or 2  # until bind() sizes it to the cluster
        self._remote: Any = None
        self._ray: Any = None
        self._lock = threading.Lock()
        self._pending: dict[Any, tuple[Future[StepResult], float | None, str]] = {}
        self._watcher: threading.Thread | None = None
        self._closed = False

    def bind(self, store: Any, services: Any = None) -> RayExecutor:
        """Connect now, so that a missing cluster fails before the first step."""
        ray = self._ray = connect(self.address)
        if self._slots is None:
            self._slots = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        self.slots = self._slots
        return self

    def submit(self, task: StepTask) -> Future[StepResult]:
        from modelplane.pipelines.executors.subprocess import encode

        ray = self._ray = self._ray or connect(self.address)
        if self._remote is None:
            self._remote = ray.remote(worker_entry("run_step"))
        future: Future[StepResult] = Future()
        timeout = task.step.timeout
        ref = self._remote.options(**ray_options(task.step, self.runtime_env)).remote(
            encode(task))
        deadline = None if timeout is None else time.monotonic() + timeout + _GRACE_S
        with self._lock:
            self._pending[ref] = (future, deadline, task.node)
            if self._watcher is None:
                self._closed = False
                self._watcher = threading.Thread(target=self._watch, daemon=True,
                                                 name="modelplane-ray-watcher")
                self._watcher.start()
        return future

    def _watch(self) -> None:
        import ray

        while True:
            with self._lock:
                refs = list(self._pending)
                if self._closed and not refs:
                    self._watcher = None
                    return
            if not refs:
                time.sleep(0.01)
                continue
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.05,
                                fetch_local=True)
            for ref in ready:
                with self._lock:
                    future, _deadline, _node = self._pending.pop(ref)
                future.set_result(_collect(ray, ref))
            self._expire(ray)

    def _expire(self, ray: Any) -> None:
        now = time.monotonic()
        with self._lock:
            late = [(r, v) for r, v in self._pending.items() if v[1] is not None and v[1] < now]
            for ref, _value in late:
                del self._pending[ref]
        for ref, (future, _deadline, _node) in late:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
            future.set_result(StepResult(error="timed out (Ray task cancelled, its worker "
                                               "killed)"))

    def close(self) -> None:
        """Cancel what is still in flight (an interrupted run) and stop watching."""
        with self._lock:
            pending, self._pending = dict(self._pending), {}
            self._closed = True
            watcher = self._watcher
        if pending:
            import ray

            for ref, (future, _deadline, _node) in pending.items():
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
                if not future.done():
                    future.set_result(StepResult(error="cancelled (the run was closed)"))
        if watcher is not None:
            watcher.join(timeout=5)


def _collect(ray: Any, ref: Any) -> StepResult:
    """The attempt's result, with Ray's failures (a lost worker or node, requirements that
    would not install, a cancelled task) as the step's error."""
    from ray import exceptions as rx

    try:
        result: StepResult = pickle.loads(ray.get(ref))
        return result
    except rx.RuntimeEnvSetupError as exc:
        return StepResult(error="the step's Ray runtime environment (its requirements) could "
                          f"not be set up: {_first_line(exc)}", retryable=False)
    except rx.TaskCancelledError:
        return StepResult(error="the Ray task was cancelled")
    except (rx.WorkerCrashedError, rx.NodeDiedError, rx.ActorDiedError) as exc:
        return StepResult(error=f"the Ray worker running the step was lost: "
                          f"{_first_line(exc)}")
    except rx.OutOfMemoryError as exc:
        return StepResult(error=f"the Ray worker ran out of memory: {_first_line(exc)}")
    except rx.RayError as exc:
        return StepResult(error=f"Ray: {type(exc).__name__}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
