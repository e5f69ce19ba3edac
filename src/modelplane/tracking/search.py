"""What a run search may name, and where each name lives in the tables.

    metrics.auc > 0.9 and (params.C = '1.0' or tags.team in ('a', 'b'))

``metrics.*`` compares the latest value of each metric (the ``latest_metrics`` table),
``params.*`` and ``tags.*`` their strings; bare names are run attributes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from modelplane.core.errors import InvalidArgumentError
from modelplane.core.filters import Field, FilterSchema, Value
from modelplane.store.filters import keyed_exists, keyed_value
from modelplane.store.tables import latest_metrics, params, run_tags, runs

__all__ = ["RUN_FILTER_SCHEMA", "RunResolver"]

RUN_FILTER_SCHEMA = FilterSchema(
    keyed={"metrics": "number", "params": "string", "tags": "string"},
    attributes={
        "id": "string", "run_id": "string", "name": "string", "status": "string",
        "start_time": "time", "end_time": "time", "experiment_id": "string",
        "parent_run_id": "string", "user": "string", "code_commit": "string",
    },
    aliases={"run": "attributes"},
)

_KEYED = {
    "metrics": (latest_metrics, latest_metrics.c.run_id, latest_metrics.c.key,
                latest_metrics.c.value),
    "params": (params, params.c.run_id, params.c.key, params.c.value),
    "tags": (run_tags, run_tags.c.run_id, run_tags.c.key, run_tags.c.value),
}


class RunResolver:
    """:class:`~modelplane.store.filters.FieldResolver` for runs."""

    def attribute(self, name: str) -> ColumnElement[Any]:
        column = runs.c.id if name in ("id", "run_id") else runs.c.get(name)
        if column is None:
            raise InvalidArgumentError(f"unknown run attribute {name!r}",
                                       details={"field": name})
        return column

    def keyed(self, prefix: str, key: str, op: str, value: Value) -> ColumnElement[bool]:
        table, owner, key_col, value_col = _KEYED[prefix]
        return keyed_exists(table, owner, key_col, value_col, runs.c.id, key, op, value)

    def order_key(self, field: Field) -> ColumnElement[Any]:
        table, owner, key_col, value_col = _KEYED[field.prefix]
        return keyed_value(table, owner, key_col, value_col, runs.c.id, field.key)
