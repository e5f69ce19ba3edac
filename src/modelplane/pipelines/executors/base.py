"""What every executor shares: the task of one step attempt, its result, and
:func:`execute_task`, which loads the inputs, calls the function and stores the outputs
(in this process, a subprocess worker, or rank 0 of a torchrun job).

``current`` is the step's context inside the function: ``current.run`` starts (once) a
tracking run linked to the step run, so metrics and models logged there join the lineage;
``current.services`` are the platform services the executor bound for the step.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
import typing
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.core.errors import InvalidArgumentError, InvalidStateError
from modelplane.pipelines.artifacts import ArtifactRef, load_value, save_value

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.pipelines.dsl import Step
    from modelplane.pipelines.services import StepServices
    from modelplane.tracking.run import ActiveRun

__all__ = ["Executor", "StepResult", "StepTask", "StepTimeoutError", "current", "execute_task"]


class StepTimeoutError(Exception):
    pass


@dataclass
class StepTask:
    """One attempt of one step, everything a worker needs to run it."""

    node: str
    step: Step
    step_run_id: str
    pipeline_run_id: str
    pipeline: str
    attempt: int
    params: dict[str, Any]
    inputs: dict[str, ArtifactRef]
    settings: dict[str, str] = field(default_factory=dict)  # configure() overrides
    sys_path: list[str] = field(default_factory=list)


@dataclass
class StepResult:
    outputs: dict[str, ArtifactRef] | None = None
    tracking_run_id: str | None = None
    error: str | None = None
    retryable: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor(Protocol):
    """Runs step attempts. ``submit`` may run the task before returning (in-process)."""

    name: str
    slots: int

    def submit(self, task: StepTask) -> Future[StepResult]: ...

    def close(self) -> None: ...


class StepContext:
    """``current``: the running step, seen from inside its function (per thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __reduce__(self) -> str:
        # pickled as a reference to the module's ``current``: a step shipped by value
        # (a closure, a script's function) that uses it finds the worker's own
        return "current"

    @property
    def task(self) -> StepTask | None:
        return getattr(self._local, "task", None)

    @property
    def step_name(self) -> str | None:
        return self.task.node if self.task else None

    @property
    def pipeline_run_id(self) -> str | None:
        return self.task.pipeline_run_id if self.task else None

    @property
    def attempt(self) -> int:
        return self.task.attempt if self.task else 1

    @property
    def services(self) -> StepServices:
        """The platform services the executor bound for this step."""
        if self.task is None:
            raise InvalidArgumentError("current.services is only available inside a "
                                       "running step")
        services: StepServices | None = getattr(self._local, "services", None)
        if services is None:
            provide: Callable[[], StepServices] | None = getattr(self._local, "provide", None)
            if provide is None:
                raise InvalidStateError(f"step {self.task.node!r} runs without the "
                                        "platform's services: its executor was not bound "
                                        "to them")
            services = self._local.services = provide()
        return services

    @property
    def run(self) -> ActiveRun:
        """A tracking run for this step (experiment = the pipeline's name), started on
        first use and ended with the step; its id is recorded on the step run."""
        task = self.task
        if task is None:
            raise InvalidArgumentError("current.run is only available inside a running step")
        active = getattr(self._local, "run", None)
        if active is None:
            active = self.services.start_run(
                task.pipeline, name=f"{task.node}",
                tags={"pipeline": task.pipeline, "pipeline_run_id": task.pipeline_run_id,
                      "pipeline_step": task.node, "pipeline_step_run_id": task.step_run_id})
            self._local.run = active
        return active

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.run.log_metrics(metrics, step=step)

    @contextmanager
    def _enter(self, task: StepTask, services: Callable[[], StepServices] | None
               ) -> Iterator[None]:
        self._local.task = task
        self._local.provide, self._local.services = services, None
        self._local.run = None
        try:
            yield
        finally:
            self._local.task = None
            self._local.provide = self._local.services = None

    def _finish_run(self, failed: bool) -> str | None:
        active = getattr(self._local, "run", None)
        self._local.run = None
        if active is None:
            return None
        active.end("failed" if failed else "finished")
        return str(active.id)


current = StepContext()


def launch_in_thread(launch: Callable[[StepTask], StepResult], task: StepTask,
                     name: str) -> Future[StepResult]:
    """Run a launcher's blocking ``launch(task)`` on a daemon thread; its future carries
    the result, or an error result if the launch itself raised."""
    future: Future[StepResult] = Future()

    def target() -> None:
        try:
            future.set_result(launch(task))
        except BaseException as exc:
            future.set_result(StepResult(error=f"{type(exc).__name__}: {exc}"))

    threading.Thread(target=target, daemon=True, name=f"{name}-{task.node}").start()
    return future


def execute_task(task: StepTask, store: ArtifactStore, *,
                 services: Callable[[], StepServices] | None = None,
                 load: Callable[[ArtifactRef], Any] | None = None,
                 call: Callable[[Callable[..., Any], dict[str, Any]], Any] | None = None,
                 timeout: float | None = None, store_outputs: bool = True) -> StepResult:
    """Run ``task`` here: inputs from ``store`` (or ``load``), the function (through
    ``call`` when given, e.g. with a distributed context) with ``services()`` (built
    when the step first asks) as ``current.services``, outputs into ``store`` (unless
    ``store_outputs`` is False: torchrun ranks other than 0)."""
    step = task.step
    with current._enter(task, services):
        failed = True
        try:
            loader = load or (lambda ref: load_value(store, ref))
            kwargs = {k: loader(ref) for k, ref in task.inputs.items()}
            kwargs.update(task.params)
            invoke = call or (lambda fn, kw: fn(**kw))
            value = _with_timeout(lambda: invoke(step.fn, kwargs), timeout)
            values = split_outputs(step, value)
            outputs = ({name: save_value(store, v) for name, v in values.items()}
                       if store_outputs else {})
            failed = False
        except StepTimeoutError:
            return StepResult(error=f"timed out after {timeout:g} s",
                              tracking_run_id=current._finish_run(True))
        except InvalidArgumentError as exc:
            return StepResult(error=exc.message, retryable=False,
                              tracking_run_id=current._finish_run(True))
        except Exception as exc:
            return StepResult(error=_describe(exc), tracking_run_id=current._finish_run(True))
        finally:
            if failed:
                current._finish_run(True)
        return StepResult(outputs=outputs, tracking_run_id=current._finish_run(False))


def split_outputs(step: Step, value: Any) -> dict[str, Any]:
    """The function's return value as output name -> value, checked against the step's
    declared outputs and return annotation."""
    names = step.output_names
    if len(names) == 1:
        _check_returned(step, value, _return_hint(step))
        return {names[0]: value}
    if not isinstance(value, tuple | list) or len(value) != len(names):
        got = f"{type(value).__name__} of {len(value)}" if isinstance(
            value, tuple | list) else type(value).__name__
        raise InvalidArgumentError(
            f"step {step.name!r} declares {len(names)} outputs but returned {got}",
            details={"step": step.name})
    return dict(zip(names, value, strict=True))


def _return_hint(step: Step) -> Any:
    import inspect

    try:
        return typing.get_type_hints(inspect.unwrap(step.fn)).get("return")
    except Exception:
        return None


def _check_returned(step: Step, value: Any, hint: Any) -> None:
    origin = typing.get_origin(hint) or hint
    if not isinstance(origin, type) or origin is object or hint is None:
        return
    if origin is float and isinstance(value, int):
        return
    if not isinstance(value, origin):
        raise InvalidArgumentError(
            f"step {step.name!r} declares -> {getattr(hint, '__qualname__', hint)} but "
            f"returned {type(value).__name__}", details={"step": step.name})


def _with_timeout(fn: Callable[[], Any], timeout: float | None) -> Any:
    if timeout is None:
        return fn()
    if threading.current_thread() is threading.main_thread():
        def on_alarm(_signum: int, _frame: Any) -> None:
            raise StepTimeoutError()

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():  # a thread cannot be killed: it is left to finish, unrecorded
        raise StepTimeoutError()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def completed(result: StepResult) -> Future[StepResult]:
    future: Future[StepResult] = Future()
    future.set_result(result)
    return future


def monotonic() -> float:
    return time.monotonic()
