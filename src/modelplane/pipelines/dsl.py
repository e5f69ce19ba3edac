"""The pipeline DSL: ``@step``, ``@pipeline``, the ``Torchrun`` spec and ``TrainingPipeline``.

Calling a step inside a function decorated with ``@pipeline`` does not run it: it adds a
node to the graph being built and returns a handle (:class:`StepOutput`) that later steps
take as an argument. Plain values passed to a step are its parameters (part of the cache
key). Outside a pipeline build, calling a step just calls the function, so steps stay
unit-testable.
"""

from __future__ import annotations

import abc
import functools
import inspect
import math
import re
import sys
import threading
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from modelplane.pipelines.graph import Graph
    from modelplane.pipelines.service import PipelineRun, PipelineService

__all__ = ["Pipeline", "Ray", "Step", "StepOutput", "Torchrun", "TrainingPipeline", "pipeline",
           "step"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,199}$")
_building = threading.local()


@dataclass(frozen=True)
class Torchrun:
    """Run a step's function under ``torchrun`` (DDP): ``nproc_per_node`` processes on each
    of ``nnodes`` machines. With ``nnodes > 1`` the other nodes join through
    ``rdzv_endpoint`` (``HOST:PORT`` of a c10d rendezvous; ``modelplane pipelines join``).
    ``backend`` defaults to NCCL when CUDA is available and gloo otherwise; ``bf16`` turns
    on bfloat16 autocast in ``ctx.autocast()`` on GPU."""

    nproc_per_node: int = 1
    nnodes: int = 1
    rdzv_endpoint: str | None = None
    rdzv_backend: str = "c10d"
    backend: str | None = None
    bf16: bool = False
    threads_per_rank: int = 1

    def __post_init__(self) -> None:
        for field in ("nproc_per_node", "nnodes", "threads_per_rank"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"Torchrun {field}: expected an integer >= 1, "
                                           f"got {value!r}", details={"field": field})
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise InvalidArgumentError(
                "Torchrun with nnodes > 1 needs rdzv_endpoint='HOST:PORT' (where the nodes "
                "meet)", details={"field": "rdzv_endpoint"})
        if self.backend not in (None, "gloo", "nccl"):
            raise InvalidArgumentError(f"Torchrun backend: expected 'gloo' or 'nccl', got "
                                       f"{self.backend!r}", details={"field": "backend"})

    def to_dict(self) -> dict[str, Any]:
        return {"nproc_per_node": self.nproc_per_node, "nnodes": self.nnodes,
                "rdzv_endpoint": self.rdzv_endpoint, "rdzv_backend": self.rdzv_backend,
                "backend": self.backend, "bf16": self.bf16,
                "threads_per_rank": self.threads_per_rank}

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes


@dataclass(frozen=True)
class Ray:
    """Run a distributed step's ranks as ``num_workers`` Ray actors (one CPU each, plus one
    GPU each with ``use_gpu``) placed by a placement group on the Ray cluster the run uses.
    The function gets the same ``ctx`` as under :class:`Torchrun` (gloo on CPU, NCCL on
    GPU), so one training function runs under both."""

    num_workers: int = 2
    use_gpu: bool = False
    backend: str | None = None
    bf16: bool = False
    threads_per_worker: int = 1
    cpus_per_worker: float = 1.0
    strategy: str = "PACK"

    def __post_init__(self) -> None:
        for field in ("num_workers", "threads_per_worker"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"Ray {field}: expected an integer >= 1, "
                                           f"got {value!r}", details={"field": field})
        if self.backend not in (None, "gloo", "nccl"):
            raise InvalidArgumentError(f"Ray backend: expected 'gloo' or 'nccl', got "
                                       f"{self.backend!r}", details={"field": "backend"})
        if self.strategy not in ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"):
            raise InvalidArgumentError(f"Ray strategy: expected PACK, SPREAD, STRICT_PACK or "
                                       f"STRICT_SPREAD, got {self.strategy!r}",
                                       details={"field": "strategy"})

    def to_dict(self) -> dict[str, Any]:
        return {"launcher": "ray", "num_workers": self.num_workers, "use_gpu": self.use_gpu,
                "backend": self.backend, "bf16": self.bf16,
                "threads_per_worker": self.threads_per_worker,
                "cpus_per_worker": self.cpus_per_worker, "strategy": self.strategy}

    @property
    def world_size(self) -> int:
        return self.num_workers

    @property
    def threads_per_rank(self) -> int:
        return self.threads_per_worker


STEP_EXECUTORS = (None, "ray")


class Step:
    """A function made a pipeline step (see :func:`step` for the options)."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, cache: bool = True,
                 retries: int = 0, retry_delay: float = 1.0, backoff: float = 2.0,
                 timeout: float | None = None, distributed: Torchrun | Ray | None = None,
                 outputs: int | list[str] | tuple[str, ...] | None = None,
                 version: str | None = None, executor: str | None = None,
                 resources: Mapping[str, Any] | None = None) -> None:
        if not callable(fn):
            raise InvalidArgumentError(f"@step needs a function, got {type(fn).__name__}")
        self.fn = fn
        default = re.sub(r"[^A-Za-z0-9_.\-]", "", getattr(fn, "__name__", "")) or "step"
        self.name = _check_name(name or default, "step name")
        self.cache = bool(cache)
        self.retries = _non_negative_int(retries, "retries")
        self.retry_delay = _non_negative(retry_delay, "retry_delay")
        self.backoff = max(_non_negative(backoff, "backoff"), 1.0)
        self.timeout = None if timeout is None else _positive(timeout, "timeout")
        if distributed is not None and not isinstance(distributed, Torchrun | Ray):
            raise InvalidArgumentError("distributed: expected Torchrun(...) or Ray(...)",
                                       details={"field": "distributed"})
        self.distributed = distributed
        if executor not in STEP_EXECUTORS:
            raise InvalidArgumentError(f"executor: a step may ask for 'ray' (or nothing: the "
                                       f"run's executor), got {executor!r}",
                                       details={"field": "executor"})
        self.executor = executor
        self.resources = _resources(resources)
        self.version = version
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters.values())
        self.takes_ctx = bool(params) and params[0].name == "ctx"
        if distributed is not None and not self.takes_ctx:
            raise InvalidArgumentError(
                f"distributed step {self.name!r} must take the distributed context as its "
                "first parameter, named ctx", details={"field": "distributed"})
        self.output_names = _output_names(fn, outputs)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @property
    def ref(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    @property
    def input_signature(self) -> inspect.Signature:
        """The signature without ``ctx``: what a pipeline passes."""
        params = list(self.signature.parameters.values())
        return self.signature.replace(parameters=params[1:] if self.takes_ctx else params)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = getattr(_building, "graph", None)
        if builder is None:
            return self.fn(*args, **kwargs)
        node = builder.add(self, args, kwargs)
        outputs = tuple(StepOutput(node.name, i, n) for i, n in enumerate(self.output_names))
        return outputs[0] if len(outputs) == 1 else outputs

    def map(self, items: Any, /, *, name: str | None = None, **common: Any) -> Any:
        """Fan out: one run of this step per item of ``items`` (its first argument; the
        same ``common`` keyword arguments for each), each its own node (cached, retried and
        resumed alone), gathered in order by one more step into a list (loaded from the
        artifact store on the worker that gathers, never through the driver). Outside a
        pipeline build it is a plain list comprehension. See :mod:`.fanout`."""
        from modelplane.pipelines.fanout import fan_out

        return fan_out(self, items, name=name, common=common)

    def __repr__(self) -> str:
        return f"<Step {self.name} ({self.ref})>"


@dataclass(frozen=True)
class StepOutput:
    """A step's output inside a pipeline build: pass it to later steps."""

    node: str
    index: int
    name: str

    def after(self, *others: StepOutput | tuple[StepOutput, ...]) -> StepOutput:
        """Run this output's step only after the steps of ``others`` (ordering only)."""
        builder = getattr(_building, "graph", None)
        if builder is None:
            raise InvalidArgumentError("after() is only meaningful inside a pipeline build")
        for other in others:
            for out in other if isinstance(other, tuple) else (other,):
                builder.add_order(self.node, out.node)
        return self

    def __bool__(self) -> bool:
        raise InvalidArgumentError(
            f"the output of step {self.node!r} has no value while the pipeline is being "
            "built; branch inside a step, not in the pipeline function")

    def __iter__(self) -> Iterator[Any]:
        raise InvalidArgumentError(
            f"step {self.node!r} has one output; declare outputs=N (or a tuple return "
            "annotation) to unpack several")


def step(fn: Callable[..., Any] | None = None, *, name: str | None = None, cache: bool = True,
         retries: int = 0, retry_delay: float = 1.0, backoff: float = 2.0,
         timeout: float | None = None, distributed: Torchrun | Ray | None = None,
         outputs: int | list[str] | tuple[str, ...] | None = None,
         version: str | None = None, executor: str | None = None,
         resources: Mapping[str, Any] | None = None) -> Any:
    """Make ``fn`` a pipeline step.

    ``cache``: reuse outputs when the step's source, parameters, input digests and the
    package environment match an earlier run (and its outputs still exist).
    ``retries`` more attempts after a failure, waiting ``retry_delay * backoff**n`` s.
    ``timeout`` seconds per attempt. ``distributed=Torchrun(...)`` runs it under torchrun.
    ``outputs``: a count or names when the function returns a tuple of several artifacts.
    ``version``: change it to invalidate the cache by hand (e.g. a helper changed).
    ``executor="ray"`` runs this step as a Ray task whatever the run's executor;
    ``resources`` (``num_cpus``, ``num_gpus``, ``memory`` as bytes or "4GB", and custom
    Ray resources by name) is what the step asks of the Ray cluster.
    """
    options: dict[str, Any] = {
        "name": name, "cache": cache, "retries": retries, "retry_delay": retry_delay,
        "backoff": backoff, "timeout": timeout, "distributed": distributed,
        "outputs": outputs, "version": version, "executor": executor,
        "resources": resources}
    if fn is None:
        return lambda f: Step(f, **options)
    return Step(fn, **options)


class Pipeline:
    """A function decorated with ``@pipeline``: builds a :class:`Graph` from its step calls."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        self.fn = fn
        self.name = _check_name(name or fn.__name__.replace("_", "-"), "pipeline name")
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @property
    def ref(self) -> str:
        """``module:attr`` (or ``path/file.py:attr`` for a script) to import it again."""
        module = self.fn.__module__
        attr = self.fn.__qualname__
        if module == "__main__" or module.startswith("_modelplane_pipeline_"):
            path = getattr(sys.modules.get(module), "__file__", None)
            if path:
                return f"{path}:{attr}"
        return f"{module}:{attr}"

    @property
    def parameters(self) -> dict[str, Any]:
        """Parameter name -> default (``inspect.Parameter.empty`` when required)."""
        return {n: p.default for n, p in self.signature.parameters.items()}

    def resolve_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults merged with ``params``; an unknown or missing parameter raises."""
        given = dict(params or {})
        known = self.parameters
        unknown = sorted(set(given) - set(known))
        if unknown:
            accepted = ", ".join(known) or "none"
            raise InvalidArgumentError(
                f"pipeline {self.name!r} has no parameter {unknown[0]!r}; it accepts: "
                f"{accepted}", details={"field": unknown[0], "expected": list(known)})
        merged = {}
        for key, default in known.items():
            if key in given:
                merged[key] = given[key]
            elif default is inspect.Parameter.empty:
                raise InvalidArgumentError(f"pipeline {self.name!r} needs parameter {key!r}",
                                           details={"field": key})
            else:
                merged[key] = default
        return merged

    def build(self, params: Mapping[str, Any] | None = None) -> Graph:
        """The validated graph for ``params`` (nothing runs)."""
        from modelplane.pipelines.graph import Graph

        resolved = self.resolve_params(params)
        graph = Graph(self.name, resolved)
        with building(graph):
            result = self.fn(**resolved)
        graph.set_outputs(result)
        graph.validate()
        return graph

    def run(self, params: Mapping[str, Any] | None = None, *, executor: Any = None,
            service: PipelineService | None = None,
            on_event: Callable[[Any], None] | None = None, trigger: str = "manual",
            **kwargs: Any) -> PipelineRun:
        """Build and run; parameters as ``params={...}`` or keywords. Returns the run.
        ``service`` runs it (``client.pipelines``; default: the configured platform's)."""
        from modelplane.pipelines.service import default_service

        service = service or default_service()
        return service.run(self, {**(params or {}), **kwargs}, executor=executor,
                           on_event=on_event, trigger=trigger)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name} ({self.ref})>"


def pipeline(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make ``fn`` a pipeline: its parameters (with defaults) are the pipeline's, and the
    steps it calls form the DAG. ``name`` defaults to the function name with dashes."""
    if fn is None:
        return lambda f: Pipeline(f, name=name)
    return Pipeline(fn, name=name)


@contextmanager
def building(graph: Graph) -> Iterator[Graph]:
    if getattr(_building, "graph", None) is not None:
        raise InvalidArgumentError("a pipeline cannot be built inside another pipeline build")
    _building.graph = graph
    try:
        yield graph
    finally:
        _building.graph = None


class TrainingPipeline(abc.ABC):
    """The class style: subclass, override ``prepare_data``, ``train``, ``evaluate`` (and
    optionally ``register``); ``as_pipeline()`` (or ``run``) gives the same DAG as the
    decorator style: prepare_data -> train -> evaluate [-> register].

    ``prepare_data(**params)`` returns ``(train, test)``; ``train(train_data, **params)``
    returns a model; ``evaluate(model, test_data)`` returns metrics (a dict).
    ``params`` (a class attribute dict) are the pipeline parameters and their defaults;
    each method receives those it names.
    """

    name: str | None = None
    params: dict[str, Any] = {}  # noqa: RUF012 - a class-level default read only
    register_as: str | None = None

    @abc.abstractmethod
    def prepare_data(self, **params: Any) -> Any:
        """Return ``(train_data, test_data)``."""

    @abc.abstractmethod
    def train(self, train_data: Any, **params: Any) -> Any:
        """Return a fitted model."""

    @abc.abstractmethod
    def evaluate(self, model: Any, test_data: Any) -> dict[str, float]:
        """Return metrics by name."""

    @classmethod
    def as_pipeline(cls) -> Pipeline:
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            raise InvalidArgumentError(
                f"{cls.__name__} must define {', '.join(missing)} to be a TrainingPipeline",
                details={"field": "pipeline", "missing": missing})
        instance = cls()
        prepare = _method_step(instance.prepare_data, "prepare_data", outputs=2)
        train = _method_step(instance.train, "train")
        evaluate = _method_step(instance.evaluate, "evaluate")
        defaults = dict(cls.params)

        def build(**params: Any) -> Any:
            train_data, test_data = prepare(**_wanted(instance.prepare_data, params))
            model = train(train_data, **_wanted(instance.train, params))
            metrics = evaluate(model, test_data)
            if cls.register_as:
                from modelplane.pipelines.gates import register

                return register(model, cls.register_as, eval_data=test_data).after(metrics)
            return metrics

        build.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
             for k, v in defaults.items()])
        build.__module__ = cls.__module__
        build.__qualname__ = f"{cls.__qualname__}.pipeline"
        return Pipeline(build, name=cls.name or _kebab(cls.__name__))

    @classmethod
    def run(cls, params: Mapping[str, Any] | None = None, **kwargs: Any) -> PipelineRun:
        return cls.as_pipeline().run(params, **kwargs)


class _ClassPipelineDescriptor:
    """Lets ``module:MyPipeline.pipeline`` refs (used by resume and schedules) resolve."""

    def __get__(self, obj: Any, owner: type[TrainingPipeline]) -> Pipeline:
        return owner.as_pipeline()


TrainingPipeline.pipeline = _ClassPipelineDescriptor()  # type: ignore[attr-defined]


def _method_step(method: Callable[..., Any], name: str, outputs: int | None = None) -> Step:
    fn = method.__func__  # type: ignore[attr-defined]
    instance = method.__self__  # type: ignore[attr-defined]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return fn(instance, *args, **kwargs)

    call.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    return Step(call, name=name, outputs=outputs)


def _wanted(method: Callable[..., Any], params: Mapping[str, Any]) -> dict[str, Any]:
    sig = inspect.signature(method)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(params)
    return {k: v for k, v in params.items() if k in sig.parameters}


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _output_names(fn: Callable[..., Any], outputs: Any) -> tuple[str, ...]:
    if outputs is None:
        outputs = _tuple_arity(fn)
    if outputs is None or outputs == 1:
        return ("output",)
    if isinstance(outputs, int) and not isinstance(outputs, bool):
        if outputs < 1:
            raise InvalidArgumentError("outputs: expected a count >= 1 or a list of names")
        return tuple(f"output_{i}" for i in range(outputs))
    names = tuple(outputs)
    if not names or len(set(names)) != len(names):
        raise InvalidArgumentError("outputs: expected distinct names", details={"field": "outputs"})
    return tuple(_check_name(n, "output name") for n in names)


def _tuple_arity(fn: Callable[..., Any]) -> int | None:
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:  # unresolvable annotations: no arity from them
        return None
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if args and Ellipsis not in args:
            return len(args)
    return None


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(f"invalid {what} {name!r}: letters, digits, _ . - "
                                   "(starting with a letter or _), at most 200",
                                   details={"field": what})
    return name


def _non_negative_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{field}: expected an integer >= 0, got {value!r}",
                                   details={"field": field})
    return value


def _non_negative(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value >= 0):
        raise InvalidArgumentError(f"{field}: expected a number >= 0, got {value!r}",
                                   details={"field": field})
    return float(value)


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def _resources(resources: Mapping[str, Any] | None) -> dict[str, float]:
    """``resources`` checked: non-negative numbers by name, ``memory`` also as "4GB"."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise InvalidArgumentError("resources: expected a mapping such as {'num_cpus': 2}",
                                   details={"field": "resources"})
    out: dict[str, float] = {}
    for key, value in resources.items():
        if key == "memory" and isinstance(value, str):
            match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", value)
            unit = match.group(2).upper() if match else ""
            if match is None or unit not in _UNITS:
                raise InvalidArgumentError(f"resources.memory: expected bytes or a size such "
                                           f"as '4GB', got {value!r}",
                                           details={"field": "resources.memory"})
            value = float(match.group(1)) * _UNITS[unit]
        out[str(key)] = _non_negative(value, f"resources.{key}")
    return out


def _positive(value: Any, field: str) -> float:
    number = _non_negative(value, field)
    if number <= 0:
        raise InvalidArgumentError(f"{field}: expected a number > 0, got {value!r}",
                                   details={"field": field})
    return number
