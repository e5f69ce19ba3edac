"""What a run search may name, where each name lives in the tables, and the statements of
one page of a search.

    metrics.auc > 0.9 and (params.C = '1.0' or tags.team in ('a', 'b'))

``metrics.*`` compares the latest value of each metric (the ``latest_metrics`` table),
``params.*`` and ``tags.*`` their strings; bare names are run attributes.

A search never has to read every run to answer one page (100,000 runs in a few ms):

- a top-level positive comparison on a key (``metrics.auc > 0.9``, ``params.C = '1'``)
  is a semi-join ``runs.id IN (SELECT run_id FROM <table> WHERE key = ? AND value > ?)``
  over the ``(key, value, run_id)`` index, so the planner may drive from the few matching
  runs instead of testing each run in turn; other comparisons stay per-run probes;
- an ordering on a key joins that key's table and walks its ``(key, value, run_id)``
  index in order; runs without the key (or a NaN metric) follow, newest first, as a
  second *segment* (:func:`search_segments`), so "nulls last" costs nothing;
- pages continue from the last run shown (keyset pagination: ``after_0``, ``after_1``...
  are the sort values of that run), never by skipping ``offset`` rows. Orderings on more
  than one field still page by offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.sql.selectable import Join
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from modelplane.core.errors import InvalidArgumentError
from modelplane.core.filters import ATTRIBUTES, And, Comparison, Expr, Field, FilterSchema, Value
from modelplane.store.filters import apply_op, compile_filter, keyed_value
from modelplane.store.tables import latest_metrics, params, run_tags, runs
from modelplane.tracking.entities import Run
from modelplane.tracking.runread import RUN_COLUMNS

__all__ = ["RUN_FILTER_SCHEMA", "CrossJoin", "RunResolver", "SearchPage", "driver_candidates",
           "keyset_ok", "matching_runs", "search_segments", "sort_values"]

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
    "metrics": latest_metrics,
    "params": params,
    "tags": run_tags,
}
# comparisons that hold only for a run having the key: a semi-join over the value index
_DRIVER_OPS = frozenset({"=", "<", "<=", ">", ">=", "in"})
_NOT_NULL_ATTRIBUTES = frozenset({"id", "run_id", "name", "status", "start_time",
                                  "experiment_id", "user", "lifecycle"})


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
        as SQLite always does it. Used under ``not`` and ``or``; a top-level comparison
        is a semi-join (:func:`_semijoin`)."""
        table = _KEYED[prefix]
        where = (table.c.run_id == runs.c.id, table.c.key == key)
        if op in ("is null", "is not null"):
            found = select(literal(1)).select_from(table).where(*where).scalar_subquery()
            return found.is_(None) if op == "is null" else found.is_not(None)
        current = select(table.c.value).where(*where).scalar_subquery()
        # a run without the key is a plain no, so that ``not`` includes it
        return func.coalesce(apply_op(current, op, value), false())

    def order_key(self, field: Field) -> ColumnElement[Any]:
        table = _KEYED[field.prefix]
        return keyed_value(table, table.c.run_id, table.c.key, table.c.value, runs.c.id,
                           field.key)


class CrossJoin(Join):
    """A join whose left side is the outer loop: ``CROSS JOIN`` on SQLite, whose planner
    otherwise prefers walking every run of an experiment to walking a value index."""

    inherit_cache = True


@compiles(CrossJoin, "sqlite")
def _cross_join(element: CrossJoin, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.visit_join(element, **kw).replace(" JOIN ", " CROSS JOIN ", 1)


class _HasNumber(ColumnElement[bool]):
    """``value IS NOT NULL``, and not NaN on PostgreSQL (SQLite stores NaN as NULL; a
    NaN metric sorts with the runs lacking the metric, last)."""

    __visit_name__ = "modelplane_has_number"
    inherit_cache = True
    type = Boolean()
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (SQLAlchemy protocol)
        ("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column

    def self_group(self, against: Any = None) -> ColumnElement[Any]:
        return Grouping(self)


@compiles(_HasNumber)
def _has_number(element: _HasNumber, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IS NOT NULL"


@compiles(_HasNumber, "postgresql")
def _has_number_pg(element: _HasNumber, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IS NOT NULL AND {column} <> 'NaN'::float8"


def driver_candidates(where: Expr | None) -> list[Comparison]:
    """The top-level comparisons a page could start from: a positive comparison on a
    key, answered by the ``(key, value, run_id)`` index."""
    items = where.items if isinstance(where, And) else (() if where is None else (where,))
    return [item for item in items
            if isinstance(item, Comparison) and item.field.prefix != ATTRIBUTES
            and item.op in _DRIVER_OPS]


def matching_runs(item: Comparison) -> Select[Any]:
    """The run ids whose ``item.field`` satisfies ``item``, from the value index."""
    table = _KEYED[item.field.prefix]
    return select(table.c.run_id).where(table.c.key == item.field.key,
                                        apply_op(table.c.value, item.op, item.value))


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One segment of a run search as a statement: :data:`RUN_COLUMNS`, then the sort
    keys labelled ``o0``, ``o1``... (``order`` lists them as ``(label, descending,
    nulls_last)``). ``late`` names the values it still needs: ``limit``, ``offset``,
    ``experiment_0``... when experiments are given, and ``after_0``... (the sort values of
    the last run of the previous page) when ``keyset``; ``fields`` says where each sort
    value of a run is (see :func:`sort_values`)."""

    stmt: Select[Any]
    order: list[tuple[str, bool, bool]]
    late: list[str]
    fields: list[Field]


def search_segments(where: Expr | None, order_by: Sequence[tuple[Field, bool]],
                    experiments: int | None, include_deleted: bool,
                    keyset: bool, driver: int | None = None) -> list[SearchPage]:
    """Runs matching ``where`` sorted by ``order_by`` (nulls last), then newest first, then
    by id; within ``experiments`` ids when that is a number. One statement per segment:
    the runs having the first sort field, then (when it can be missing) those without.

    ``driver``: the index in :func:`driver_candidates` of a comparison few runs satisfy;
    the page then starts from those runs (and sorts them) instead of walking an order."""
    resolver = RunResolver()
    base = select(*RUN_COLUMNS).where(compile_filter(where, resolver))
    if driver is not None:
        start = matching_runs(driver_candidates(where)[driver]).subquery("driver")
        base = base.select_from(CrossJoin(start, runs, runs.c.id == start.c.run_id))
    late = ["limit", "offset"]
    if experiments is not None:
        names = [f"experiment_{i}" for i in range(experiments)]
        base = base.where(runs.c.experiment_id.in_(
            [bindparam(name, type_=runs.c.experiment_id.type) for name in names]))
        late += names
    if not include_deleted:
        base = base.where(runs.c.lifecycle == "active")
    newest: list[tuple[ColumnElement[Any], bool, Field]] = [
        (runs.c.start_time, True, Field(ATTRIBUTES, "start_time")),
        (runs.c.id, False, Field(ATTRIBUTES, "id"))]
    if not order_by:
        return [_segment(base, newest, late, keyset)]
    (first, descending), rest = order_by[0], order_by[1:]
    extra = [(resolver.attribute(f.key) if f.prefix == ATTRIBUTES else resolver.order_key(f),
              d, f) for f, d in rest]
    if first.prefix == ATTRIBUTES:
        column = resolver.attribute(first.key)
        keys = [(column, descending, first), *extra, *newest]
        if first.key in _NOT_NULL_ATTRIBUTES:
            return [_segment(base, keys, late, keyset)]
        return [_segment(base.where(column.is_not(None)), keys, late, keyset),
                _segment(base.where(column.is_(None)), [*extra, *newest], late, keyset)]
    table = _KEYED[first.prefix].alias("sort_key")
    on = and_(table.c.run_id == runs.c.id, table.c.key == first.key)
    having = (base.join_from(runs, table, on) if driver is not None
              else base.select_from(CrossJoin(table, runs, on)))
    value = table.c.value
    has = _HasNumber(value) if first.prefix == "metrics" else value.is_not(None)
    having = having.where(has)
    missing = base.where(~select(literal(1)).select_from(table).where(
        table.c.run_id == runs.c.id, table.c.key == first.key, has).exists())
    keys = [(table.c.value, descending, first), *extra, *newest]
    return [_segment(having, keys, late, keyset),
            _segment(missing, [*extra, *newest], late, keyset)]


def _segment(stmt: Select[Any], keys: list[tuple[ColumnElement[Any], bool, Field]],
             late: list[str], keyset: bool) -> SearchPage:
    late = list(late)
    if keyset:
        afters = [bindparam(f"after_{i}", type_=key.type) for i, (key, _, _) in
                  enumerate(keys)]
        late += [f"after_{i}" for i in range(len(keys))]
        stmt = stmt.where(_after(keys, afters))
    order = []
    for i, (key, descending, _field) in enumerate(keys):
        label = key.label(f"o{i}")
        clause = label.desc() if descending else label.asc()
        stmt = stmt.add_columns(label).order_by(clause)
        order.append((label.name, descending, False))
    stmt = (stmt.limit(bindparam("limit", type_=Integer()))
            .offset(bindparam("offset", type_=Integer())))
    return SearchPage(stmt, order, late, [f for _, _, f in keys])


def _after(keys: list[tuple[ColumnElement[Any], bool, Field]],
           values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order of ``keys``, with the first key's
    bound repeated on its own so that the index range starts there."""
    (first, descending, _), v0 = keys[0], values[0]
    chain = []
    for i, (key, desc, _f) in enumerate(keys):
        ties = [k == v for (k, _, _), v in zip(keys[:i], values[:i], strict=True)]
        chain.append(and_(*ties, key < values[i] if desc else key > values[i]))
    return and_(first <= v0 if descending else first >= v0, or_(*chain))


def sort_values(run: Run, fields: Sequence[Field]) -> list[Any]:
    """The sort values of ``run`` for :class:`SearchPage.fields`: what the next page's
    ``after_*`` are."""
    out: list[Any] = []
    for field in fields:
        if field.prefix == ATTRIBUTES:
            out.append(getattr(run, "id" if field.key == "run_id" else field.key))
        else:
            out.append(getattr(run, field.prefix)[field.key])
    return out


def keyset_ok(order_by: Sequence[tuple[Field, bool]]) -> bool:
    """Whether pages of this ordering continue by keyset (every sort value of a run of
    a segment is known and not null); otherwise by offset."""
    return len(order_by) <= 1
