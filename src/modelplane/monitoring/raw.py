"""Drift from raw data: profile the reference, count the current data, score, with the
exact two-sample KS on the raw values.

Each numeric column is sorted once on each side (on worker threads: NumPy's sort and
search release the GIL). The sorted reference gives the profile (the same numbers
:func:`~modelplane.tracking.datasets.profile` computes); the sorted current data gives the
bin counts (one ``searchsorted`` of the edges) and, with the sorted reference, the exact
KS statistic. Other columns are profiled by ``datasets.profile`` and counted as usual.
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
    _count_numeric,
    _prediction_frame,
)
from modelplane.monitoring.drift import DriftOptions, DriftResult, exact_ks, score_counts
from modelplane.monitoring.profiles import ColumnLayout, Layout

__all__ = ["compare", "numeric_profile"]


def _is_numeric(values: Any) -> bool:
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(values, pa.ChunkedArray | pa.Array):
        t = values.type
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        dtype = np.asarray(values).dtype
    return getattr(dtype, "kind", "O") in "iuf"


def numeric_profile(name: str, sorted_finite: np.ndarray, count: int, null_count: int,
                    non_finite: int, bins: int) -> dict[str, Any]:
    """The ``datasets.profile`` entry of a numeric column from its sorted finite values
    (as float64): same quantiles, edges and counts."""
    from modelplane.tracking.datasets import QUANTILES

    def num(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    out: dict[str, Any] = {"name": name, "kind": "numeric", "count": count,
                           "null_count": null_count, "non_finite_count": non_finite}
    n = sorted_finite.size
    if n == 0:
        return {**out, "min": None, "max": None, "mean": None, "std": None,
                "quantiles": dict.fromkeys(QUANTILES), "bin_edges": [], "bin_counts": []}
    floats = sorted_finite
    probs = np.concatenate([np.linspace(0.0, 1.0, bins + 1), list(QUANTILES.values())])
    position = probs * (n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    cuts = floats[low] + (floats[high] - floats[low]) * (position - low)
    edges = np.unique(cuts[: bins + 1])
    if edges.size == 1:
        edges = np.repeat(edges, 2)
    starts = np.searchsorted(floats, edges, side="left")
    counts = np.diff(starts)
    counts[-1] = n - starts[-2]
    return {**out, "min": floats[0].item(), "max": floats[-1].item(),
            "mean": num(np.mean(floats)), "std": num(np.std(floats, ddof=1)) if n > 1 else None,
            "quantiles": {k: num(v) for k, v in zip(QUANTILES, cuts[bins + 1:], strict=True)},
            "bin_edges": [num(e) for e in edges], "bin_counts": [int(c) for c in counts]}


def _finite_sorted(values: Any) -> tuple[np.ndarray, int, int, int]:
    """``(sorted finite values, rows, nulls, non-finite)``; a null becomes NaN when
    converted, so nulls and non-finite are told apart by the column's null count."""
    pa = sys.modules.get("pyarrow")
    nulls = 0
    if pa is not None and isinstance(values, pa.ChunkedArray | pa.Array):
        nulls = values.null_count
    elif hasattr(values, "isna"):  # pandas: NaN is null, as Arrow reads it
        nulls = int(values.isna().sum())
    x = _as_float(values)
    finite = np.isfinite(x)
    bad = x.size - int(np.count_nonzero(finite))
    return np.sort(x[finite] if bad else x), x.size, nulls, bad - nulls


def _count_sorted(col: ColumnLayout, b: np.ndarray, missing: int, out: CountVector) -> None:
    """Bin counts of sorted finite ``b`` (one search of the edges, not of the values)."""
    edges = np.asarray(col.edges)
    left = np.searchsorted(b, edges, side="left")
    top = int(np.searchsorted(b, edges[-1], side="right"))
    inner = np.diff(left)
    inner[-1] = top - left[-2]
    slots = out.slots[col.offset: col.offset + col.size]
    slots[0] += left[0]
    slots[1:-2] += inner
    slots[-2] += b.size - top
    slots[-1] += missing
    if b.size:
        row = out.sums[col.numeric_index]
        row[0] += float(b.sum())
        row[1] += float(np.einsum("i,i->", b, b))
        row[2] += float(b[: left[0]].sum())
        row[3] += float(b[top:].sum())
        out.mins[col.numeric_index] = min(out.mins[col.numeric_index], float(b[0]))
        out.maxs[col.numeric_index] = max(out.maxs[col.numeric_index], float(b[-1]))


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
    columns, the current columns and rows. Sorted copies live only inside a job."""
    from modelplane.tracking.datasets import profile

    ref_rows, ref_cols = _columns_of(reference)
    cur_rows, cur_cols = (0, {}) if current is None else _columns_of(current)
    if ref_rows == 0:
        raise InvalidArgumentError(f"{role} reference: needs at least one row",
                                   details={"field": "reference"})
    numeric = [n for n, v in ref_cols.items() if _is_numeric(v)]
    others = [n for n in ref_cols if n not in numeric]

    def one(name: str) -> tuple[str, dict[str, Any], Any]:
        a, rows, nulls, bad = _finite_sorted(ref_cols[name])
        prof = numeric_profile(name, a, rows, nulls, bad, bins)
        if name not in cur_cols or len(prof["bin_edges"]) < 2:
            return name, prof, None
        edges = tuple(prof["bin_edges"])
        col = ColumnLayout(name=name, role=role, kind="numeric", offset=0,
                           size=len(edges) + 2, edges=edges, numeric_index=0)
        part = CountVector(np.zeros(col.size, np.int64), np.zeros((1, 4)),
                           np.full(1, np.inf), np.full(1, -np.inf), 0)
        if not exact:
            _count_numeric(cur_cols[name], col, np.asarray(edges), part)
            return name, prof, (part, None)
        b, _, cnulls, cbad = _finite_sorted(cur_cols[name])
        _count_sorted(col, b, cnulls + cbad, part)
        return name, prof, (part, exact_ks(a, b, alpha) if a.size and b.size else None)

    done = {name: (prof, extra) for name, prof, extra in pool.map(one, numeric)}
    other_profile: dict[str, Any] = {"columns": []}
    if others:
        from modelplane.tracking.datasets import to_arrow

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
