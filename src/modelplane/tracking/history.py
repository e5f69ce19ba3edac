"""Long metric histories read in bounded work: a series of up to ``max_points`` points,
the raw points when there are that few, otherwise min and max per step bucket (as Aim and
TensorBoard draw a million-point curve), and the full history in pages by step.

Both read the ``(run_id, key, step, value)`` index of ``metrics`` only (covering), never
the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Integer, bindparam, func, select

from modelplane.store.db import Database
from modelplane.store.tables import metrics

__all__ = ["MetricSeries", "read_many", "read_page", "read_series"]

_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """``points``: ``(step, min, max)`` per point (raw: ``min == max``) or per bucket of
    steps (the bucket's first step); ``count``: the points logged; ``bucketed``: whether
    ``points`` are buckets."""

    key: str
    count: int
    bucketed: bool
    points: list[tuple[int, float, float]]


_WHERE = (metrics.c.run_id == bindparam("run_id"), metrics.c.key == bindparam("key"))
_STATS = select(func.count(), func.min(metrics.c.step), func.max(metrics.c.step)).where(*_WHERE)
_RAW = (select(metrics.c.step, metrics.c.value).where(*_WHERE)
        .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id))
_BUCKET = ((metrics.c.step - bindparam("lo", type_=Integer())) // bindparam("width",
                                                                            type_=Integer()))
_BUCKETS = (select(func.min(metrics.c.step), func.min(metrics.c.value),
                   func.max(metrics.c.value)).where(*_WHERE)
            .group_by(_BUCKET).order_by(func.min(metrics.c.step)))
_PAGE = (select(metrics.c.step, metrics.c.value, metrics.c.timestamp)
         .where(*_WHERE, metrics.c.step >= bindparam("from_step"))
         .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
         .limit(bindparam("limit", type_=Integer())))


def _float(value: float | None) -> float:
    return _NAN if value is None else value


def read_series(db: Database, run_id: str, key: str, max_points: int) -> MetricSeries:
    """At most about ``max_points`` points of ``key`` (a bucket holds ``ceil(span /
    max_points)`` steps)."""
    values = {"run_id": run_id, "key": key}
    with db.connection_scope(readonly=True) as conn:
        count, lo, hi = conn.execute(_STATS, values).one()
        if count <= max_points:
            rows = conn.execute(_RAW, values).all()
            return MetricSeries(key, count, False,
                                [(s, _float(v), _float(v)) for s, v in rows])
        width = max(1, math.ceil((hi - lo + 1) / max_points))
        buckets = conn.execute(_BUCKETS, {**values, "lo": lo, "width": width}).all()
    return MetricSeries(key, count, True,
                        [(s, _float(low), _float(high)) for s, low, high in buckets])


def read_many(db: Database, run_ids: list[str], key: str,
              max_points: int) -> dict[str, MetricSeries]:
    """:func:`read_series` of several runs (a comparison) in two statements, plus one per
    long history; runs without ``key`` are left out."""
    where = (metrics.c.run_id.in_(run_ids), metrics.c.key == key)
    stats = (select(metrics.c.run_id, func.count(), func.min(metrics.c.step))
             .where(*where).group_by(metrics.c.run_id))
    with db.connection_scope(readonly=True) as conn:
        counts = {run_id: count for run_id, count, _ in conn.execute(stats)}
        short = [run_id for run_id, count in counts.items() if count <= max_points]
        points: dict[str, list[tuple[int, float, float]]] = {run_id: [] for run_id in short}
        if short:
            raw = (select(metrics.c.run_id, metrics.c.step, metrics.c.value)
                   .where(metrics.c.run_id.in_(short), metrics.c.key == key)
                   .order_by(metrics.c.run_id, metrics.c.step, metrics.c.timestamp,
                             metrics.c.id))
            for run_id, step, value in conn.execute(raw):
                points[run_id].append((step, _float(value), _float(value)))
    out = {run_id: MetricSeries(key, counts[run_id], False, found)
           for run_id, found in points.items()}
    for run_id in counts.keys() - out.keys():
        out[run_id] = read_series(db, run_id, key, max_points)
    return out


def read_page(db: Database, run_id: str, key: str, from_step: int,
              limit: int) -> list[tuple[int, float, int]]:
    """Up to ``limit`` points ``(step, value, epoch_ms)`` from ``from_step`` on, by step:
    the next page starts at the last step returned (points sharing it may repeat; pass
    the last step + 1 when steps are distinct)."""
    with db.connection_scope(readonly=True) as conn:
        rows = conn.execute(_PAGE, {"run_id": run_id, "key": key, "from_step": from_step,
                                    "limit": limit}).all()
    return [(s, _float(v), ts) for s, v, ts in rows]
