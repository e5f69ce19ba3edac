"""Pages of a run search on the metadata database: page tokens and the segments of
:func:`~modelplane.tracking.search.search_segments` run one after the other.

A page token is opaque to callers: URL-safe base64 of JSON ``{"s": segment, "a": [sort
values of the last run shown]}`` (keyset) or ``{"s": segment, "o": offset}`` (orderings on
several fields). A bare number (the tokens of earlier releases, and what a remote store
sends) is an offset into the whole result.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select

from modelplane.core.errors import InvalidArgumentError
from modelplane.core.filters import ATTRIBUTES, Expr, Field
from modelplane.tracking.entities import Run
from modelplane.tracking.runread import PreparedRuns, RunReader
from modelplane.tracking.search import (
    SearchPage,
    driver_candidates,
    keyset_ok,
    matching_runs,
    search_segments,
    sort_values,
)

__all__ = ["FEW_RUNS", "Cursor", "RunSearcher", "decode_token", "encode_token"]

_SEARCHES_KEPT = 256  # search shapes kept compiled, per store (the oldest is dropped)
#: A comparison fewer runs than this satisfy starts the page from those runs.
FEW_RUNS = 2000
_BAD_TOKEN = "invalid page_token: pass the token of a previous page"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: a segment and, within it, the sort values of the run before
    (``after``) or a number of runs to skip (``offset``). ``legacy``: an offset into the
    whole result."""

    segment: int = 0
    after: list[Any] | None = None
    offset: int = 0
    legacy: bool = False


def _bad() -> InvalidArgumentError:
    return InvalidArgumentError(_BAD_TOKEN, details={"field": "page_token"})


def decode_token(token: str | None) -> Cursor:
    if not token:
        return Cursor()
    try:
        raw = base64.urlsafe_b64decode(token.encode())
        data = orjson.loads(raw)
    except (ValueError, UnicodeDecodeError, orjson.JSONDecodeError):
        raise _bad() from None
    if isinstance(data, int) and not isinstance(data, bool) and data >= 0:
        return Cursor(offset=data, legacy=True)
    if not isinstance(data, dict) or not isinstance(data.get("s"), int) or data["s"] < 0:
        raise _bad()
    after, offset = data.get("a"), data.get("o", 0)
    if (after is not None and not isinstance(after, list)) or not isinstance(offset, int) \
            or offset < 0:
        raise _bad()
    return Cursor(data["s"], after, offset)


def encode_token(cursor: Cursor) -> str:
    data: dict[str, Any] = {"s": cursor.segment}
    if cursor.after is not None:
        data["a"] = [_encode(v) for v in cursor.after]
    else:
        data["o"] = cursor.offset
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode()


@dataclass(frozen=True, slots=True)
class _Shape:
    segments: list[SearchPage]
    first: list[PreparedRuns]  # each segment from its start
    after: list[PreparedRuns]  # each segment after a run (keyset), or by offset


class RunSearcher:
    """Runs the segments of searches, one compiled statement per search shape (filter,
    order, number of experiments): a repeated search, or its next page, binds values."""

    def __init__(self, reader: RunReader) -> None:
        self._reader = reader
        self._shapes: dict[tuple[Any, ...], _Shape] = {}

    def _driver(self, where: Expr | None) -> int | None:
        """The comparison fewest runs satisfy, when fewer than :data:`FEW_RUNS` do: a
        bounded count on the value index per candidate (a millisecond each)."""
        best: tuple[int, int] | None = None
        for i, item in enumerate(driver_candidates(where)):
            probe = select(func.count()).select_from(
                matching_runs(item).limit(FEW_RUNS).subquery())
            with self._reader.db.connection_scope(readonly=True) as conn:
                count = int(conn.execute(probe).scalar_one())
            if count < FEW_RUNS and (best is None or count < best[0]):
                best = (count, i)
        return None if best is None else best[1]

    def _shape(self, where: Expr | None, order_by: Sequence[tuple[Field, bool]],
               experiments: int | None, include_deleted: bool) -> _Shape:
        driver = self._driver(where)
        key = (where, tuple(order_by), experiments, include_deleted, driver)
        shape = self._shapes.get(key)
        if shape is None:
            keyset = keyset_ok(order_by)
            plain = search_segments(where, order_by, experiments, include_deleted, False,
                                    driver)
            firsts = [self._reader.prepare(p.stmt, p.order, p.late) for p in plain]
            if keyset:
                paged = search_segments(where, order_by, experiments, include_deleted, True,
                                        driver)
                afters = [self._reader.prepare(p.stmt, p.order, p.late) for p in paged]
            else:
                paged, afters = plain, firsts
            shape = _Shape(paged, firsts, afters)
            if len(self._shapes) >= _SEARCHES_KEPT:
                self._shapes.pop(next(iter(self._shapes)), None)
            self._shapes[key] = shape
        return shape

    def page(self, experiment_ids: Sequence[str] | None, where: Expr | None,
             order_by: Sequence[tuple[Field, bool]], limit: int, cursor: Cursor,
             include_deleted: bool) -> tuple[list[Run], Cursor | None]:
        """Up to ``limit`` runs from ``cursor``, and the cursor of the next page (None
        when this one is the last)."""
        ids = None if experiment_ids is None else list(experiment_ids)
        shape = self._shape(where, order_by, None if ids is None else len(ids),
                            include_deleted)
        if cursor.legacy:
            runs = self.offset(shape, ids, limit + 1, cursor.offset)
            more = len(runs) > limit
            return runs[:limit], Cursor(offset=cursor.offset + limit, legacy=True) \
                if more else None
        keyset = keyset_ok(order_by)
        base: dict[str, Any] = {f"experiment_{i}": e for i, e in enumerate(ids or ())}
        found: list[tuple[int, Run]] = []
        segment, after, offset = cursor.segment, cursor.after, cursor.offset
        while segment < len(shape.segments) and len(found) <= limit:
            late = {**base, "limit": limit + 1 - len(found), "offset": offset}
            if after is not None and keyset:
                fields = shape.segments[segment].fields
                if len(after) != len(fields):
                    raise _bad()
                late.update((f"after_{i}", _value(f, v)) for i, (f, v) in
                            enumerate(zip(fields, after, strict=True)))
                prepared = shape.after[segment]
            else:
                prepared = shape.first[segment] if keyset else shape.after[segment]
            found.extend((segment, run) for run in self._reader.load(prepared, late))
            if len(found) > limit:
                break
            segment, after, offset = segment + 1, None, 0
        if len(found) <= limit:
            return [run for _, run in found], None
        page = found[:limit]
        last_segment, last = page[-1]
        if keyset:
            nxt = Cursor(last_segment, sort_values(last, shape.segments[last_segment].fields))
        else:
            start = cursor.offset if last_segment == cursor.segment else 0
            shown = sum(1 for s, _ in page if s == last_segment)
            nxt = Cursor(last_segment, None, start + shown)
        return [run for _, run in page], nxt

    def offset(self, shape: _Shape, ids: list[str] | None, limit: int,
               offset: int) -> list[Run]:
        """Runs ``offset`` to ``offset + limit`` of the whole result: work grows with
        ``offset`` (what keyset tokens avoid)."""
        base: dict[str, Any] = {f"experiment_{i}": e for i, e in enumerate(ids or ())}
        found: list[Run] = []
        for prepared in shape.first:
            want = offset + limit - len(found)
            got = self._reader.load(prepared, {**base, "limit": want, "offset": 0})
            found.extend(got)
            if len(found) >= offset + limit:
                break
        return found[offset:offset + limit]

    def statements(self, experiment_ids: Sequence[str] | None, where: Expr | None,
                   order_by: Sequence[tuple[Field, bool]], include_deleted: bool,
                   after: Run | None) -> list[tuple[str, Any]]:
        """The SQL and driver parameters of every segment of a search (from the start,
        and after ``after``'s sort values when given): what ``EXPLAIN`` checks."""
        ids = None if experiment_ids is None else list(experiment_ids)
        shape = self._shape(where, order_by, None if ids is None else len(ids),
                            include_deleted)
        base: dict[str, Any] = {f"experiment_{i}": e for i, e in enumerate(ids or ())}
        base.update(limit=50, offset=0)
        out = [(p.sql, p.args(base)) for p in shape.first]
        if after is not None and keyset_ok(order_by):
            for segment, prepared in zip(shape.segments, shape.after, strict=True):
                values = sort_values(after, segment.fields)
                late = {**base, **{f"after_{i}": v for i, v in enumerate(values)}}
                out.append((prepared.sql, prepared.args(late)))
        return out

    def search(self, experiment_ids: Sequence[str] | None, where: Expr | None,
               order_by: Sequence[tuple[Field, bool]], limit: int, offset: int,
               include_deleted: bool) -> list[Run]:
        ids = None if experiment_ids is None else list(experiment_ids)
        shape = self._shape(where, order_by, None if ids is None else len(ids),
                            include_deleted)
        return self.offset(shape, ids, limit, offset)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"  # JSON has no infinity
    return value


def _value(field: Field, value: Any) -> Any:
    """A sort value from a token, as the column's type wants it."""
    if field.prefix == ATTRIBUTES and field.key in ("start_time", "end_time"):
        if not isinstance(value, str):
            raise _bad()
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise _bad() from None
    if field.prefix == "metrics":
        if value in ("inf", "-inf"):
            return float(value)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _bad()
        return float(value)
    if not isinstance(value, str):
        raise _bad()
    return value
