"""Drift from raw data: profile the reference, count the current data, score, with the
exact two-sample KS on the raw values.

No numeric column is sorted. Each reference and current column pair is put on one grid of
equal cells (:mod:`~modelplane.monitoring.ks`): the cells' counts give exact ranks at the
cell boundaries, and only the few cells holding a wanted quantile, a bin edge or possibly
the largest CDF gap are sorted. That gives the reference profile (the edges, counts and
quantiles :func:`~modelplane.tracking.datasets.profile` computes), the current data's bin
counts and the exact KS statistic, about ten times faster than sorting both columns.
Pairs run on worker threads (NumPy releases the GIL). Other columns are profiled by
``datasets.profile`` and counted as usual.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from modelplane.core.errors import InvalidArgumentError
from modelplane.monitoring.counts import (
    CountVector,
    _as_float,
    _columns_of,
    _count_column,
    _prediction_frame,
)
from modelplane.monitoring.drift import DriftOptions, DriftResult, score_counts
from modelplane.monitoring.ks import (
    SCIPY_EXACT_MAX_N,
    Grid,
    Side,
    exact_ks,
    ks_candidates,
    ks_from_sides,
)
from modelplane.monitoring.profiles import ColumnLayout, Layout

__all__ = ["compare", "numeric_pair", "numeric_profile"]


def _is_numeric(values: Any) -> bool:
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(values, pa.ChunkedArray | pa.Array):
        t = values.type
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        dtype = np.asarray(values).dtype
    return getattr(dtype, "kind", "O") in "iuf"


def _positions(n: int, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``datasets.profile``'s interpolation positions: the ``bins`` + 1 edges, then the
    named quantiles; and the ranks of the order statistics on either side of each."""
    from modelplane.data import QUANTILES

    probs = np.concatenate([np.linspace(0.0, 1.0, bins + 1), list(QUANTILES.values())])
    position = probs * (n - 1)
    low = np.floor(position).astype(np.int64)
    return position, low, np.minimum(low + 1, n - 1)


def _entry(out: dict[str, Any], n: int, bins: int, stats: tuple[Any, ...]) -> dict[str, Any]:
    """A numeric profile entry from ``(position, low, value at low, value at high, ranks
    of values below, mean, std, min, max)``, computed as ``datasets.profile`` does."""
    from modelplane.data import QUANTILES

    def num(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    position, low, at_low, at_high, below, mean, std, lo, hi = stats
    cuts = at_low + (at_high - at_low) * (position - low)
    edges = np.unique(cuts[: bins + 1])
    if edges.size == 1:
        edges = np.repeat(edges, 2)
    starts = below(edges)
    counts = np.diff(starts)
    counts[-1] = n - starts[-2]
    return {**out, "min": lo, "max": hi, "mean": num(mean),
            "std": num(std) if n > 1 else None,
            "quantiles": {k: num(v) for k, v in zip(QUANTILES, cuts[bins + 1:], strict=True)},
            "bin_edges": [num(e) for e in edges], "bin_counts": [int(c) for c in counts]}


def _empty_entry(out: dict[str, Any]) -> dict[str, Any]:
    from modelplane.data import QUANTILES

    return {**out, "min": None, "max": None, "mean": None, "std": None,
            "quantiles": dict.fromkeys(QUANTILES), "bin_edges": [], "bin_counts": []}


def numeric_profile(name: str, sorted_finite: np.ndarray, count: int, null_count: int,
                    non_finite: int, bins: int) -> dict[str, Any]:
    """The ``datasets.profile`` entry of a numeric column from its sorted finite values
    (as float64): same quantiles, edges and counts."""
    out: dict[str, Any] = {"name": name, "kind": "numeric", "count": count,
                           "null_count": null_count, "non_finite_count": non_finite}
    n = sorted_finite.size
    if n == 0:
        return _empty_entry(out)
    f = sorted_finite
    position, low, high = _positions(n, bins)
    return _entry(out, n, bins, (
        position, low, f[low], f[high], lambda e: np.searchsorted(f, e, side="left"),
        np.mean(f), np.std(f, ddof=1) if n > 1 else None, f[0].item(), f[-1].item()))


def _finite(values: Any) -> tuple[np.ndarray, int, int, int]:
    """``(finite values as float64, rows, nulls, non-finite)``; a null becomes NaN when
    converted, so nulls and non-finite are told apart by the column's null count."""
    x = _as_float(values)
    finite = np.isfinite(x)
    bad = x.size - int(np.count_nonzero(finite))
    if not bad:  # no null either: a null converts to NaN
        return x, x.size, 0, 0
    pa = sys.modules.get("pyarrow")
    nulls = 0
    if pa is not None and isinstance(values, pa.ChunkedArray | pa.Array):
        nulls = values.null_count
    elif hasattr(values, "isna"):  # pandas: NaN is null, as Arrow reads it
        nulls = int(values.isna().sum())
    return x[finite], x.size, nulls, bad - nulls


def numeric_pair(name: str, role: str, reference: Any, current: Any, bins: int,
                 exact: bool, alpha: float = 0.05
                 ) -> tuple[dict[str, Any], tuple[CountVector, tuple[float, float] | None]
                            | None]:
    """A numeric column's reference profile (``datasets.profile``'s edges, counts and
    quantiles; mean and std equal to rounding, summed in the data's order) and, when
    ``current`` is given, its counts over the profile's bins and (with ``exact``) the
    exact KS ``(D, p)``. Neither sample is sorted: see :mod:`~modelplane.monitoring.ks`."""
    x, rows, nulls, bad = _finite(reference)
    out: dict[str, Any] = {"name": name, "kind": "numeric", "count": rows,
                           "null_count": nulls, "non_finite_count": bad}
    n = x.size
    if n == 0:
        return _empty_entry(out), None
    y, missing = np.zeros(0), 0
    if current is not None:
        y, _, cnulls, cbad = _finite(current)
        missing = cnulls + cbad
    lo, hi = float(x.min()), float(x.max())
    y_range = (float(y.min()), float(y.max())) if y.size else (lo, hi)
    grid = Grid(min(lo, y_range[0]), max(hi, y_range[1]), n + y.size)
    sx, sy = Side(x, grid), Side(y, grid)
    position, low, high = _positions(n, bins)
    marked = np.zeros(grid.k, np.bool_)
    ks_cells = None
    big = max(n, y.size) > SCIPY_EXACT_MAX_N
    if exact and y.size and big:
        ks_cells, gap = ks_candidates(sx, sy)
        marked |= ks_cells
    marked[sx.cell_of_rank(np.concatenate([low, high]))] = True
    sx.pick(marked)
    prof = _entry(out, n, bins, (
        position, low, sx.order(low), sx.order(high), lambda e: sx.rank(e, "left"),
        np.mean(x), np.std(x, ddof=1) if n > 1 else None, lo, hi))
    if current is None or len(prof["bin_edges"]) < 2:
        return prof, None
    edges = np.asarray(prof["bin_edges"], np.float64)
    marked = marked.copy()
    marked[grid.cells(edges)] = True
    sy.pick(marked)
    col = ColumnLayout(name=name, role=role, kind="numeric", offset=0, size=edges.size + 2,
                       edges=tuple(prof["bin_edges"]), numeric_index=0)
    part = CountVector(np.zeros(col.size, np.int64), np.zeros((1, 4)), np.full(1, np.inf),
                       np.full(1, -np.inf), 0)
    _count_side(sy, edges, missing, y_range, part)
    ks = None
    if exact and y.size:
        ks = (ks_from_sides(sx, sy, ks_cells, gap, alpha) if ks_cells is not None
              else exact_ks(x, y, alpha))
    return prof, (part, ks)


def _count_side(side: Side, edges: np.ndarray, missing: int, extremes: tuple[float, float],
                out: CountVector) -> None:
    """Counts of ``side`` (picked at every edge's cell) over the bins of ``edges``, plus
    its sums and extremes, into a one-column count vector."""
    y = side.values
    left = side.rank(edges, "left")
    top = int(side.rank(edges[-1:], "right")[0])
    inner = np.diff(left)
    inner[-1] = top - left[-2]
    slots = out.slots
    slots[0] += left[0]
    slots[1:-2] += inner
    slots[-2] += y.size - top
    slots[-1] += missing
    if y.size:
        row = out.sums[0]
        row[0] += float(y.sum())
        row[1] += float(np.einsum("i,i->", y, y))
        if left[0]:
            row[2] += float(y[y < edges[0]].sum())
        if y.size - top:
            row[3] += float(y[y > edges[-1]].sum())
        out.mins[0], out.maxs[0] = extremes


def compare(reference: Any, current: Any, *, reference_predictions: Any = None,
            current_predictions: Any = None, options: DriftOptions | None = None,
            bins: int = 100, top_k: int = 1000, exact: bool = True,
            threads: int | None = None) -> DriftResult:
    """Drift of raw ``current`` data against raw ``reference`` data (DataFrames, Arrow
    tables, dicts of arrays; predictions as a 1-D array or columns). With ``exact`` the
    KS statistic and p-value come from the raw values (see ``drift.exact_ks``)."""
    if bins < 1:
        raise InvalidArgumentError("bins must be at least 1", details={"field": "bins"})
    alpha = (options or DriftOptions()).alpha
    sides = [("feature", reference, current)]
    if reference_predictions is not None:
        sides.append(("prediction", _prediction_frame(reference_predictions),
                      None if current_predictions is None
                      else _prediction_frame(current_predictions)))
    workers = max(threads or min(os.cpu_count() or 1, 8), 1)
    with ThreadPoolExecutor(workers) as pool:
        prepared = [_prepare(role, ref, cur, bins, top_k, exact, alpha, pool)
                    for role, ref, cur in sides]
    profiles = [p[0] for p in prepared]
    layout = Layout.from_profiles(profiles[0], profiles[1] if len(profiles) > 1 else None)
    counts = CountVector.empty(layout)
    counts.n = prepared[0][3]
    exact_found: dict[str, tuple[float, float]] = {}
    for (_, parts, cur_cols, rows), (role, *_) in zip(prepared, sides, strict=True):
        for col in (c for c in layout.columns if c.role == role):
            if col.name not in cur_cols:
                counts.slots[col.offset + col.size - 1] += rows
            elif col.name in parts:
                part, ks = parts[col.name]
                counts.slots[col.offset: col.offset + col.size] += part.slots
                counts.sums[col.numeric_index] += part.sums[0]
                counts.mins[col.numeric_index] = part.mins[0]
                counts.maxs[col.numeric_index] = part.maxs[0]
                if ks is not None:
                    exact_found[col.key] = ks
            else:
                _count_column(cur_cols[col.name], col, layout, counts)
    result = score_counts(layout, counts, options=options, exact=exact_found)
    return replace(result, n_reference=int(profiles[0]["num_rows"]))


def _prepare(role: str, reference: Any, current: Any, bins: int, top_k: int, exact: bool,
             alpha: float, pool: ThreadPoolExecutor
             ) -> tuple[dict[str, Any], dict[str, Any], Any, int]:
    """One side's reference profile, the counts (and exact KS) of its numeric current
    columns, the current columns and rows."""
    from modelplane.data import profile

    ref_rows, ref_cols = _columns_of(reference)
    cur_rows, cur_cols = (0, {}) if current is None else _columns_of(current)
    if ref_rows == 0:
        raise InvalidArgumentError(f"{role} reference: needs at least one row",
                                   details={"field": "reference"})
    numeric = [n for n, v in ref_cols.items() if _is_numeric(v)]
    others = [n for n in ref_cols if n not in numeric]

    def one(name: str) -> tuple[str, dict[str, Any], Any]:
        current = cur_cols.get(name)
        prof, extra = numeric_pair(name, role, ref_cols[name], current, bins, exact, alpha)
        return name, prof, extra

    done = {name: (prof, extra) for name, prof, extra in pool.map(one, numeric)}
    other_profile: dict[str, Any] = {"columns": []}
    if others:
        from modelplane.data import to_arrow

        other_profile = profile(to_arrow({n: _plain(ref_cols[n]) for n in others}),
                                bins=bins, top_k=top_k)
    by_name = {c["name"]: c for c in other_profile["columns"]}
    columns = [done[n][0] if n in done else by_name[n] for n in ref_cols]
    return ({"num_rows": ref_rows, "columns": columns},
            {n: extra for n, (_, extra) in done.items() if extra is not None}, cur_cols,
            cur_rows)


def _plain(values: Any) -> Any:
    """A column as something ``pyarrow.table`` takes."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(values, pd.Series):
        import pyarrow as pa

        return pa.array(values, from_pandas=True)
    return values
