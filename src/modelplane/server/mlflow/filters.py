"""MLflow's search syntax translated into modelplane's filter language.

MLflow's filters are a subset of modelplane's grammar (``metrics.acc > 0.9 and
params.C = '1'``, ``LIKE``/``ILIKE``, ``IN``, backquoted keys), with other names for
attributes (``run_name``, ``user_id``, ``version_number``, ``creation_timestamp``...)
and upper-case enum values (``status = 'FINISHED'``, ``current_stage = 'Production'``).
Each filter is parsed with a schema of MLflow's names, rewritten onto modelplane's names
and values, and printed back as modelplane filter text for the services, which parse it
again (both parses are cached). ``order_by`` lists are rewritten the same way.
Experiments are few, so their filters are evaluated here on the records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.core.filters import (
    ATTRIBUTES,
    And,
    Comparison,
    Expr,
    Field,
    FilterSchema,
    Not,
    Or,
    Value,
    format_filter,
    parse_filter,
    parse_order_by,
)
from modelplane.server.mlflow.convert import (
    MODEL_STATUS_TO_MLFLOW,
    STAGE_FROM_MLFLOW,
    STATUS_FROM_MLFLOW,
)
from modelplane.server.mlflow.errors import not_supported
from modelplane.tracking.entities import Experiment
from modelplane.tracking.logged_models import LoggedModel

__all__ = [
    "experiment_matches",
    "experiment_sort_key",
    "logged_model_matches",
    "model_filter",
    "model_order",
    "run_filter",
    "run_order",
    "version_filter",
    "version_order",
]

_RUNS = FilterSchema(
    keyed={"metrics": "number", "params": "string", "tags": "string", "datasets": "string"},
    attributes={"run_id": "string", "run_name": "string", "status": "string",
                "user_id": "string", "start_time": "time", "end_time": "time",
                "created": "time", "experiment_id": "string", "lifecycle_stage": "string",
                "artifact_uri": "string"},
    aliases={"run": ATTRIBUTES, "parameter": "params", "parameters": "params"})
_RUN_NAMES = {"run_id": "id", "run_name": "name", "user_id": "user", "created": "start_time",
              "lifecycle_stage": "lifecycle"}
_MODELS = FilterSchema(keyed={"tags": "string"}, attributes={
    "name": "string", "creation_timestamp": "time", "last_updated_timestamp": "time"})
_VERSIONS = FilterSchema(keyed={"tags": "string"}, attributes={
    "name": "string", "version_number": "number", "run_id": "string", "source_path": "string",
    "current_stage": "string", "creation_timestamp": "time",
    "last_updated_timestamp": "time"})
_REGISTRY_NAMES = {"creation_timestamp": "created_at", "last_updated_timestamp": "updated_at",
                   "version_number": "version", "current_stage": "stage"}
_EXPERIMENTS = FilterSchema(keyed={"tags": "string"}, attributes={
    "name": "string", "experiment_id": "string", "creation_time": "time",
    "last_update_time": "time"})

Rewrite = Callable[[Comparison], Expr]


def _map(expr: Expr, rewrite: Rewrite) -> Expr:
    if isinstance(expr, Comparison):
        return rewrite(expr)
    if isinstance(expr, Not):
        return Not(_map(expr.item, rewrite))
    items = tuple(_map(e, rewrite) for e in expr.items)
    return And(items) if isinstance(expr, And) else Or(items)


def _values(value: Value, table: Mapping[str, str], what: str) -> Value:
    def one(v: Any) -> Any:
        if not isinstance(v, str):
            return v
        found = table.get(v) or table.get(v.upper()) or table.get(v.lower())
        if found is None:
            raise InvalidArgumentError(
                f"Invalid value {v!r} for {what} in the filter: expected one of "
                f"{', '.join(sorted(set(table)))}", details={"field": "filter", "got": v})
        return found
    return tuple(one(v) for v in value) if isinstance(value, tuple) else one(value)


def _run_comparison(comp: Comparison) -> Expr:
    field = comp.field
    if field.prefix == "datasets":
        raise not_supported("searching runs by datasets.*")
    if field.prefix == "tags" and field.key == "mlflow.runName":
        return Comparison(Field(ATTRIBUTES, "name"), comp.op, comp.value)
    if field.prefix == "tags" and field.key == "mlflow.user":
        return Comparison(Field(ATTRIBUTES, "user"), comp.op, comp.value)
    if field.prefix != ATTRIBUTES:
        return comp
    if field.key == "artifact_uri":
        raise not_supported("searching runs by artifact_uri")
    value = comp.value
    if field.key == "status" and "like" not in comp.op:
        value = _values(value, STATUS_FROM_MLFLOW, "status")
    return Comparison(Field(ATTRIBUTES, _RUN_NAMES.get(field.key, field.key)), comp.op, value)


def _registry_comparison(comp: Comparison) -> Expr:
    """MLflow's registry counts a model without the tag as unequal to any value (the
    client excludes prompts with ``tags.`mlflow.prompt.is_prompt` != 'true'``)."""
    field = comp.field
    if field.prefix != ATTRIBUTES:
        if comp.op in ("!=", "not in", "not like", "not ilike"):
            return Or((comp, Comparison(field, "is null", None)))
        return comp
    if field.key == "source_path":
        raise not_supported("searching model versions by source_path")
    value = comp.value
    if field.key == "current_stage":
        value = _values(value, STAGE_FROM_MLFLOW, "current_stage")
    return Comparison(Field(ATTRIBUTES, _REGISTRY_NAMES.get(field.key, field.key)), comp.op,
                      value)


def _translate(text: str | None, schema: FilterSchema, rewrite: Rewrite) -> str:
    expr = parse_filter(text, schema)
    return "" if expr is None else format_filter(_map(expr, rewrite))


def run_filter(text: str | None) -> str:
    return _translate(text, _RUNS, _run_comparison)


def model_filter(text: str | None) -> str:
    return _translate(text, _MODELS, _registry_comparison)


def version_filter(text: str | None) -> str:
    return _translate(text, _VERSIONS, _registry_comparison)


def _order(items: list[str] | None, schema: FilterSchema, rewrite: Rewrite) -> str:
    parts = []
    for field, descending in parse_order_by(", ".join(items or []), schema):
        mapped = rewrite(Comparison(field, "is null", None))
        if isinstance(mapped, Comparison):  # always: a field maps to a field
            parts.append(f"{mapped.field} {'desc' if descending else 'asc'}")
    return ", ".join(parts)


def run_order(items: list[str] | None) -> str:
    return _order(items, _RUNS, _run_comparison)


def version_order(items: list[str] | None) -> str:
    return _order(items, _VERSIONS, _registry_comparison)


def model_order(items: list[str] | None) -> list[tuple[str, bool]]:
    """``(attribute, descending)`` pairs on ``name``, ``created_at``, ``updated_at``."""
    return [(_REGISTRY_NAMES.get(f.key, f.key), d)
            for f, d in parse_order_by(", ".join(items or []), _MODELS)
            if f.prefix == ATTRIBUTES] or [("name", False)]


# -- experiments: evaluated on the records -------------------------------------------
def _like(pattern: str, text: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) \
        is not None


def _compare(op: str, have: Any, want: Value) -> bool:
    if have is None:
        return op == "is null"
    if op in ("is null", "is not null"):
        return op == "is not null"
    if op.endswith("like"):
        matched = _like(str(want), str(have), "ilike" in op)
        return not matched if op.startswith("not") else matched
    if op.endswith("in"):
        found = have in (want if isinstance(want, tuple) else (want,))
        return not found if op == "not in" else found
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    return ops[op](have, want)


def _experiment_value(exp: Experiment, field: Field, public_id: str) -> Any:
    if field.prefix == "tags":
        return exp.tags.get(field.key)
    return {"name": exp.name, "experiment_id": public_id, "creation_time": exp.created_at,
            "last_update_time": exp.updated_at}[field.key]


def _matcher(text: str | None, schema: FilterSchema,
             value: Callable[[Any, Field], Any]) -> Callable[[Any], bool]:
    expr = parse_filter(text, schema)

    def test(node: Expr, record: Any) -> bool:
        if isinstance(node, Comparison):
            return _compare(node.op, value(record, node.field), node.value)
        if isinstance(node, Not):
            return not test(node.item, record)
        results = (test(item, record) for item in node.items)
        return all(results) if isinstance(node, And) else any(results)

    return (lambda record: True) if expr is None else (lambda record: test(expr, record))


def experiment_matches(text: str | None) -> Callable[[Experiment], bool]:
    """A predicate on experiments for an MLflow experiment filter."""
    return _matcher(text, _EXPERIMENTS, lambda e, f: _experiment_value(e, f, e.id))


_LOGGED = FilterSchema(keyed={"tags": "string", "params": "string"}, attributes={
    "name": "string", "model_id": "string", "model_type": "string", "status": "string",
    "source_run_id": "string", "creation_timestamp": "time", "last_updated_timestamp": "time"})


def _logged_value(model: LoggedModel, field: Field) -> Any:
    if field.prefix != ATTRIBUTES:
        return (model.tags if field.prefix == "tags" else model.params).get(field.key)
    return {"name": model.name, "model_id": model.id, "model_type": model.model_type,
            "status": MODEL_STATUS_TO_MLFLOW[model.status], "source_run_id": model.run_id,
            "creation_timestamp": model.created_at,
            "last_updated_timestamp": model.updated_at}[field.key]


def logged_model_matches(text: str | None) -> Callable[[LoggedModel], bool]:
    """A predicate on logged models (attributes, ``tags.*``, ``params.*``)."""
    return _matcher(text, _LOGGED, _logged_value)


def experiment_sort_key(items: list[str] | None) -> list[tuple[str, bool]]:
    """``(attribute, descending)`` pairs; MLflow's default is newest first, then id."""
    order = [(f.key, d) for f, d in parse_order_by(", ".join(items or []), _EXPERIMENTS)
             if f.prefix == ATTRIBUTES]
    return order or [("creation_time", True), ("experiment_id", False)]


def experiment_attribute(exp: Experiment, key: str, public_id: str) -> str | datetime:
    value = _experiment_value(exp, Field(ATTRIBUTES, key), public_id)
    return value  # type: ignore[no-any-return]
