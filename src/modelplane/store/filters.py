"""Compile parsed search filters (:mod:`modelplane.core.filters`) into SQLAlchemy.

The compiler never knows the tables: the caller passes a :class:`FieldResolver` that
turns an attribute into a column and a keyed field (``metrics.auc``) into a predicate,
usually an ``EXISTS`` over a key/value table built with :func:`keyed_exists`. Every value
is a bound parameter; no filter text reaches the SQL.

Semantics worth knowing:

- A keyed comparison holds for a record that has the key with a matching value, so
  ``tags.team != 'a'`` and ``tags.team not in (...)`` skip records without a ``team`` tag;
  ``not tags.team = 'a'`` includes them, and ``tags.team is null`` means "has no such tag".
- Metrics compare as numbers, params and tags as strings (the parser already turned
  ``params.C = 1.0`` into ``'1.0'``). Point :func:`keyed_exists` for metrics at the table
  or view of latest values: over a full history any logged step would match.
- ``like`` is case-sensitive on every database (SQLite runs it as ``GLOB``) with ``\\`` as
  escape; ``ilike`` is case-insensitive (ASCII case only on SQLite).
- Time values compare against ``DateTime`` columns as aware UTC datetimes and against
  integer columns as epoch milliseconds.
- Ordering puts nulls (records without the key) last in both directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    Boolean,
    ColumnElement,
    FromClause,
    Numeric,
    String,
    and_,
    bindparam,
    exists,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy import Integer as SAInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType
from sqlalchemy.types import TypeDecorator

from modelplane.core.filters import ATTRIBUTES, And, Comparison, Expr, Field, Not, Value

__all__ = [
    "FieldResolver",
    "apply_op",
    "compile_filter",
    "compile_order_by",
    "keyed_exists",
    "keyed_value",
]


class FieldResolver(Protocol):
    """What a searchable record type tells the compiler about its storage."""

    def attribute(self, name: str) -> ColumnElement[Any]:
        """The column (or expression) of the bare attribute ``name``."""
        ...

    def keyed(self, prefix: str, key: str, op: str, value: Value) -> ColumnElement[bool]:
        """A predicate for ``prefix.key op value`` (see :func:`keyed_exists`)."""
        ...

    def order_key(self, field: Field) -> ColumnElement[Any]:
        """The expression to sort by for ``field`` (see :func:`keyed_value`)."""
        ...


def compile_filter(expr: Expr | None, resolver: FieldResolver) -> ColumnElement[bool]:
    """The WHERE clause of ``expr``; ``None`` (an empty filter) is ``TRUE``."""
    if expr is None:
        return true()
    if isinstance(expr, Comparison):
        field = expr.field
        if field.prefix == ATTRIBUTES:
            return apply_op(resolver.attribute(field.key), expr.op, expr.value)
        return resolver.keyed(field.prefix, field.key, expr.op, expr.value)
    if isinstance(expr, Not):
        return not_(compile_filter(expr.item, resolver))
    parts = [compile_filter(item, resolver) for item in expr.items]
    return and_(*parts) if isinstance(expr, And) else or_(*parts)


def compile_order_by(items: Sequence[tuple[Field, bool]],
                     resolver: FieldResolver) -> list[ColumnElement[Any]]:
    """ORDER BY clauses for :func:`~modelplane.core.filters.parse_order_by` output."""
    clauses: list[ColumnElement[Any]] = []
    for field, descending in items:
        key = (resolver.attribute(field.key) if field.prefix == ATTRIBUTES
               else resolver.order_key(field))
        clauses.append((key.desc() if descending else key.asc()).nulls_last())
    return clauses


def apply_op(column: ColumnElement[Any], op: str, value: Value) -> ColumnElement[bool]:
    """``column op value`` with ``value`` bound (``op`` as in ``Comparison.op``)."""
    value = _for_column(column, value)
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op in ("like", "not like"):
        clause: ColumnElement[bool] = _CaseSensitiveLike(column, str(value))
        return not_(clause) if op == "not like" else clause
    if op in ("ilike", "not ilike"):
        clause = column.ilike(str(value), escape="\\")
        return not_(clause) if op == "not ilike" else clause
    if op in ("in", "not in"):
        values = list(value) if isinstance(value, tuple) else [value]
        return column.in_(values) if op == "in" else column.not_in(values)
    if op == "is null":
        return column.is_(None)
    if op == "is not null":
        return column.is_not(None)
    raise ValueError(f"unknown filter operator {op!r}")


def keyed_exists(table: FromClause, owner_col: ColumnElement[Any], key_col: ColumnElement[Any],
                 value_col: ColumnElement[Any], owner_id_col: ColumnElement[Any], key: str,
                 op: str, value: Value) -> ColumnElement[bool]:
    """``EXISTS (SELECT 1 FROM table WHERE owner_col = owner_id_col AND key_col = :key AND
    value_col <op> :value)``, correlated to the outer query through ``owner_id_col``.

    ``is null`` becomes ``NOT EXISTS`` of the key and ``is not null`` its ``EXISTS``.
    """
    where = [owner_col == owner_id_col, key_col == key]
    if op in ("is null", "is not null"):
        found = exists(select(literal(1)).select_from(table).where(*where))
        return ~found if op == "is null" else found
    where.append(apply_op(value_col, op, value))
    return exists(select(literal(1)).select_from(table).where(*where))


def keyed_value(table: FromClause, owner_col: ColumnElement[Any], key_col: ColumnElement[Any],
                value_col: ColumnElement[Any], owner_id_col: ColumnElement[Any],
                key: str) -> ColumnElement[Any]:
    """A correlated scalar subquery: the value of ``key`` for the outer record (NULL when it
    has none). Sorting by a metric needs one value per record: use a latest-values table."""
    return (select(value_col).select_from(table)
            .where(owner_col == owner_id_col, key_col == key)
            .limit(1).scalar_subquery())


def _for_column(column: ColumnElement[Any], value: Value) -> Value:
    """Times as epoch milliseconds when the column stores integers or numbers."""
    if not isinstance(column.type, SAInteger | Numeric):
        return value
    if isinstance(value, tuple):
        return tuple(_epoch_ms(v) for v in value)
    return _epoch_ms(value)


def _epoch_ms(value: Any) -> Any:
    return round(value.timestamp() * 1000) if isinstance(value, datetime) else value


# -- case-sensitive LIKE -------------------------------------------------------------------


def _like_to_glob(pattern: str) -> str:
    """A LIKE pattern (``%``, ``_``, ``\\`` escape) as the GLOB pattern SQLite matches."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            ch = next(chars, "\\")
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        else:
            out.append(f"[{ch}]" if ch in "*?[" else ch)
    return "".join(out)


class _LikePattern(TypeDecorator[str]):
    """Binds a LIKE pattern, translated to GLOB on SQLite."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is not None and dialect.name == "sqlite":
            return _like_to_glob(value)
        return value


class _CaseSensitiveLike(ColumnElement[bool]):
    """``column LIKE :pattern ESCAPE '\\'``, or ``column GLOB :pattern`` on SQLite, whose
    LIKE ignores ASCII case."""

    __visit_name__ = "modelplane_case_sensitive_like"
    inherit_cache = True
    type = Boolean()
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (SQLAlchemy protocol)
        ("column", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], pattern: str) -> None:
        self.column = column
        self.pattern = bindparam(None, pattern, type_=_LikePattern())

    def self_group(self, against: Any = None) -> ColumnElement[Any]:
        return Grouping(self)


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    escape = compiler.render_literal_value("\\", String())
    return (f"{compiler.process(element.column, **kw)} LIKE "
            f"{compiler.process(element.pattern, **kw)} ESCAPE {escape}")


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_glob(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return (f"{compiler.process(element.column, **kw)} GLOB "
            f"{compiler.process(element.pattern, **kw)}")
