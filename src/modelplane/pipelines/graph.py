"""The DAG a pipeline build produces, and its validation.

Validation runs before anything executes: unknown or missing step arguments, ordering
cycles (named along the cycle), and a step output handed to a parameter whose type
annotation cannot take it (``-> DataFrame`` into ``x: np.ndarray``).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.pipelines.dsl import Step, StepOutput

__all__ = ["ArtifactInput", "Graph", "Node"]


@dataclass(frozen=True)
class ArtifactInput:
    """An argument fed by another step's output."""

    node: str
    index: int


@dataclass
class Node:
    name: str
    step: Step
    inputs: dict[str, ArtifactInput]
    params: dict[str, Any]
    after: set[str] = field(default_factory=set)

    @property
    def upstream(self) -> set[str]:
        return {i.node for i in self.inputs.values()} | self.after

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "step": self.step.ref,
                "inputs": {k: [v.node, v.index] for k, v in self.inputs.items()},
                "after": sorted(self.after), "outputs": list(self.step.output_names),
                "distributed": (self.step.distributed.to_dict()
                                if self.step.distributed else None),
                "cache": self.step.cache, "retries": self.step.retries}


class Graph:
    def __init__(self, pipeline: str, params: dict[str, Any]) -> None:
        self.pipeline = pipeline
        self.params = params
        self.nodes: dict[str, Node] = {}
        self.outputs: list[ArtifactInput] = []

    # -- building ------------------------------------------------------------------------
    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any], *,
            name: str | None = None) -> Node:
        """A node calling ``step``; named after it (or ``name``), made unique."""
        name = self._unique(name or step.name)
        try:
            bound = step.input_signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArgumentError(f"step {name!r}: {exc}",
                                       details={"step": name}) from None
        bound.apply_defaults()
        inputs: dict[str, ArtifactInput] = {}
        params: dict[str, Any] = {}
        for key, value in bound.arguments.items():
            if isinstance(value, StepOutput):
                inputs[key] = ArtifactInput(value.node, value.index)
            elif isinstance(value, tuple) and value and all(
                    isinstance(v, StepOutput) for v in value):
                raise InvalidArgumentError(
                    f"step {name!r} argument {key!r} got all outputs of step "
                    f"{value[0].node!r}; unpack them and pass one",
                    details={"step": name, "field": key})
            elif _contains_output(value):
                raise InvalidArgumentError(
                    f"step {name!r} argument {key!r}: a step output nested inside a "
                    "container is not supported; pass it as its own argument",
                    details={"step": name, "field": key})
            else:
                params[key] = value
        node = Node(name, step, inputs, params)
        self.nodes[name] = node
        return node

    def add_order(self, node: str, before: str) -> None:
        self.nodes[node].after.add(before)

    def set_outputs(self, result: Any) -> None:
        values = result if isinstance(result, tuple) else (result,)
        self.outputs = [ArtifactInput(v.node, v.index) for v in values
                        if isinstance(v, StepOutput)]

    def _unique(self, name: str) -> str:
        if name not in self.nodes:
            return name
        n = 2
        while f"{name}_{n}" in self.nodes:
            n += 1
        return f"{name}_{n}"

    # -- validation ----------------------------------------------------------------------
    def validate(self) -> None:
        if not self.nodes:
            raise InvalidArgumentError(f"pipeline {self.pipeline!r} calls no step")
        for node in self.nodes.values():
            for dep in node.upstream:
                if dep not in self.nodes:
                    raise InvalidArgumentError(f"step {node.name!r} depends on unknown step "
                                               f"{dep!r}", details={"step": node.name})
        self.topological_order()  # raises on a cycle
        for node in self.nodes.values():
            for key, edge in node.inputs.items():
                self._check_types(node, key, edge)

    def _check_types(self, node: Node, key: str, edge: ArtifactInput) -> None:
        producer = self.nodes[edge.node].step
        produced = _output_type(producer, edge.index)
        wanted = _param_type(node.step, key)
        if produced is None or wanted is None or compatible(produced, wanted):
            return
        raise InvalidArgumentError(
            f"step {edge.node!r} returns {_type_name(produced)} but step {node.name!r} takes "
            f"{key}: {_type_name(wanted)}", details={"step": node.name, "field": key,
                                                      "expected": _type_name(wanted),
                                                      "got": _type_name(produced)})

    def topological_order(self) -> list[str]:
        """Nodes in a valid execution order (insertion order among equals)."""
        state: dict[str, int] = {}
        order: list[str] = []
        for start in self.nodes:
            if start in state:
                continue
            stack: list[tuple[str, Iterator[str]]] = [(start, iter(self._deps(start)))]
            path = [start]
            state[start] = 1
            while stack:
                name, deps = stack[-1]
                dep = next(deps, None)
                if dep is None:
                    stack.pop()
                    path.pop()
                    state[name] = 2
                    order.append(name)
                elif state.get(dep) == 1:
                    # shown in run order: each step would have to run before the next
                    cycle = [*path[path.index(dep):], dep][::-1]
                    raise InvalidArgumentError(
                        f"pipeline {self.pipeline!r} has a cycle: {' -> '.join(cycle)}",
                        details={"cycle": cycle})
                elif dep not in state:
                    state[dep] = 1
                    path.append(dep)
                    stack.append((dep, iter(self._deps(dep))))
        return order

    def _deps(self, name: str) -> list[str]:
        return sorted(self.nodes[name].upstream, key=list(self.nodes).index)

    def downstream(self, name: str) -> set[str]:
        """Every node that depends on ``name``, directly or not."""
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for node in self.nodes.values():
                if current in node.upstream and node.name not in found:
                    found.add(node.name)
                    frontier.append(node.name)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [n.to_dict() for n in self.nodes.values()],
                "outputs": [[o.node, o.index] for o in self.outputs]}


def _contains_output(value: Any) -> bool:
    if isinstance(value, StepOutput):
        return True
    if isinstance(value, list | tuple | set):
        return any(_contains_output(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_output(v) for v in value.values())
    return False


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(inspect.unwrap(fn))
    except Exception:  # annotations that do not resolve are not checked
        return {}


def _output_type(step: Step, index: int) -> Any:
    hint = _hints(step.fn).get("return")
    if hint is None:
        return None
    if len(step.output_names) > 1:
        args = typing.get_args(hint) if typing.get_origin(hint) is tuple else ()
        return args[index] if index < len(args) and args[index] is not Ellipsis else None
    return hint


def _param_type(step: Step, key: str) -> Any:
    return _hints(step.fn).get(key)


def compatible(produced: Any, wanted: Any) -> bool:
    """Whether a value annotated ``produced`` can be passed where ``wanted`` is annotated.
    Lenient where the annotation says too little (Any, TypeVars, protocols); unrelated
    classes (``DataFrame`` into ``ndarray``) fail."""
    if produced in (Any, object) or wanted in (Any, object):
        return True
    if isinstance(produced, typing.TypeVar) or isinstance(wanted, typing.TypeVar):
        return True
    if _is_union(wanted):
        return any(compatible(produced, w) for w in typing.get_args(wanted))
    if _is_union(produced):
        return any(compatible(p, wanted) for p in typing.get_args(produced))
    if produced is type(None) or wanted is type(None):
        return produced is wanted
    p_origin = typing.get_origin(produced) or produced
    w_origin = typing.get_origin(wanted) or wanted
    if not isinstance(p_origin, type) or not isinstance(w_origin, type):
        return True
    if (w_origin, p_origin) in ((float, int), (complex, int), (complex, float)):
        return True
    try:
        # related types pass (a base-class annotation may hold the subclass at run time)
        return issubclass(p_origin, w_origin) or issubclass(w_origin, p_origin)
    except TypeError:
        return True


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__qualname__
    return str(hint).replace("typing.", "")
