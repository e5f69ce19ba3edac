"""Fan-out: ``step.map(items)`` runs one node per item and gathers the results in order.

Each item becomes its own node (``NAME.0``, ``NAME.1``, ...), so the machinery every step
has applies to each item alone: its own cache key (the item is a parameter, or the digest
of an upstream output), its own retries, and ``resume`` reruns only the items that failed.
One more node, ``NAME.gather``, takes every item's output as an input and returns them as
a list in item order; it runs on the executor like any step, so on Ray the items travel
from the artifact store to the worker that gathers, never through the driver.

Items are known when the pipeline is built: a list of values, the outputs of earlier
steps, or the partitions of a dataset (:func:`partitions`: file paths a step reads
itself, so a partition's rows are read on the worker that maps it).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from modelplane.pipelines.dsl import Step, StepOutput

__all__ = ["MAX_ITEMS", "fan_out", "gather_step", "partitions"]

MAX_ITEMS = 100_000


def fan_out(step: Step, items: Iterable[Any], *, name: str | None,
            common: dict[str, Any]) -> StepOutput | list[Any]:
    from modelplane.pipelines.dsl import StepOutput, _building, _check_name

    if isinstance(items, StepOutput | str | bytes):
        raise InvalidArgumentError(
            f"{step.name}.map: expected a list of items known when the pipeline is built "
            f"(values, step outputs or partitions(...)), got {type(items).__name__}",
            details={"field": "items"})
    values = list(items)
    builder = getattr(_building, "graph", None)
    if builder is None:  # outside a build: just call the function per item
        return [step.fn(item, **common) for item in values]
    if not values:
        raise InvalidArgumentError(f"{step.name}.map: no items to map over",
                                   details={"field": "items"})
    if len(values) > MAX_ITEMS:
        raise InvalidArgumentError(f"{step.name}.map: {len(values)} items; at most {MAX_ITEMS} "
                                   "(map over partitions, not rows)", details={"field": "items"})
    if len(step.output_names) != 1:
        raise InvalidArgumentError(f"{step.name}.map: a mapped step must have one output, "
                                   f"{step.name!r} has {len(step.output_names)}",
                                   details={"field": "outputs"})
    base = builder._unique(_check_name(name or step.name, "map name"))
    outputs = {}
    for index, item in enumerate(values):
        node = builder.add(step, (item,), common, name=f"{base}.{index}")
        outputs[f"item_{index}"] = StepOutput(node.name, 0, step.output_names[0])
    gather = builder.add(gather_step(len(values)), (), outputs, name=f"{base}.gather")
    return StepOutput(gather.name, 0, "output")


def gather_step(count: int) -> Step:
    """A step taking ``item_0 .. item_{count-1}`` and returning them as a list in order."""
    from modelplane.pipelines.dsl import Step

    keys = [f"item_{i}" for i in range(count)]

    def gather(**parts: Any) -> list[Any]:
        return [parts[key] for key in keys]

    gather.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY) for key in keys])
    return Step(gather, name="gather", version=f"gather/{count}")


def partitions(pattern: str, *, storage_options: dict[str, Any] | None = None) -> list[str]:
    """The files matching ``pattern`` (a local or fsspec glob such as
    ``s3://bucket/events/*.parquet``), sorted: the partitions to map a step over. Each
    mapped step opens its own partition (``pyarrow.parquet.read_table(path)``)."""
    import fsspec

    fs, _, paths = fsspec.get_fs_token_paths(pattern, storage_options=storage_options or {})
    found = sorted(p for p in paths if fs.isfile(p))  # a glob is expanded here already
    if not found:
        raise InvalidArgumentError(f"no partitions match {pattern!r}",
                                   details={"field": "pattern"})
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return [str(p) for p in found]
    return [f"{protocol}://{p}" for p in found]
