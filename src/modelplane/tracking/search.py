"""What a run search may name, and where each name lives in the tables.

    metrics.auc > 0.9 and (params.C = '1.0' or tags.team in ('a', 'b'))

``metrics.*`` compares the latest value of each metric (the ``latest_metrics`` table),
``params.*`` and ``tags.*`` their strings; bare names are run attributes.
:func:`search_page` turns a parsed search into the statement of one page of runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, false, func, literal, select

from modelplane.core.errors import InvalidArgumentError
from modelplane.core.filters import ATTRIBUTES, Expr, Field, FilterSchema, Value
from modelplane.store.filters import apply_op, compile_filter, keyed_value
from modelplane.store.tables import latest_metrics, params, run_tags, runs
from modelplane.tracking.runread import RUN_COLUMNS

__all__ = ["RUN_FILTER_SCHEMA", "RunResolver", "SearchPage", "search_page"]

RUN_FILTER_SCHEMA = FilterSchema(
    keyed={"metrics": "number", "params": "string", "tags": "string"},
    attributes={
        "id": "string", "run_id": "string", "name": "string", "status": "string",
        "start_time": "time", "end_time": "time", "experiment_id": "string",
        "parent_run_id": "string", "user": "string", "code_commit": "string",
        "lifecycle": "string",
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
        """The run's value of ``key``, looked up by primary key (run, key) and compared in
        the outer query: the meaning of :func:`~modelplane.store.filters.keyed_exists`, in
        a form PostgreSQL cannot turn into a semi-join. Without table statistics (a new
        database, autovacuum off) it ran that join as a rescan of the value index per run:
        90 ms for 1,000 runs instead of 5. The cost is one index probe per candidate run,
        as SQLite always does it."""
        table, owner, key_col, value_col = _KEYED[prefix]
        where = (owner == runs.c.id, key_col == key)
        if op in ("is null", "is not null"):
            found = select(literal(1)).select_from(table).where(*where).scalar_subquery()
            return found.is_(None) if op == "is null" else found.is_not(None)
        current = select(value_col).where(*where).scalar_subquery()
        # a run without the key is a plain no, so that ``not`` includes it
        return func.coalesce(apply_op(current, op, value), false())

    def order_key(self, field: Field) -> ColumnElement[Any]:
        table, owner, key_col, value_col = _KEYED[field.prefix]
        return keyed_value(table, owner, key_col, value_col, runs.c.id, field.key)


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of a run search as a statement: :data:`RUN_COLUMNS`, then the sort keys
    labelled ``o0``, ``o1``... (``order`` lists them as ``(label, descending,
    nulls_last)``). ``late`` names the values it still needs: ``limit``, ``offset`` and,
    when experiments are given, ``experiment_0``, ``experiment_1``..."""

    stmt: Select[Any]
    order: list[tuple[str, bool, bool]]
    late: list[str]


def search_page(where: Expr | None, order_by: Sequence[tuple[Field, bool]],
                experiments: int | None, include_deleted: bool) -> SearchPage:
    """Runs matching ``where`` sorted by ``order_by`` (nulls last), then newest first, then
    by id; within ``experiments`` ids when that is a number."""
    resolver = RunResolver()
    stmt = select(*RUN_COLUMNS).where(compile_filter(where, resolver))
    late = ["limit", "offset"]
    if experiments is not None:
        names = [f"experiment_{i}" for i in range(experiments)]
        stmt = stmt.where(runs.c.experiment_id.in_(
            [bindparam(name, type_=runs.c.experiment_id.type) for name in names]))
        late += names
    if not include_deleted:
        stmt = stmt.where(runs.c.lifecycle == "active")
    keys: list[tuple[ColumnElement[Any], bool, bool]] = [
        (resolver.attribute(field.key) if field.prefix == ATTRIBUTES
         else resolver.order_key(field), descending, True)
        for field, descending in order_by]
    keys += [(runs.c.start_time, True, False), (runs.c.id, False, False)]
    order = []
    for i, (key, descending, nulls_last) in enumerate(keys):
        label = key.label(f"o{i}")
        clause = label.desc() if descending else label.asc()
        stmt = stmt.add_columns(label).order_by(clause.nulls_last() if nulls_last else clause)
        order.append((label.name, descending, nulls_last))
    stmt = (stmt.limit(bindparam("limit", type_=Integer()))
            .offset(bindparam("offset", type_=Integer())))
    return SearchPage(stmt, order, late)
