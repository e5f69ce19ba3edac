"""A JSON-serialisable summary of every column of a table, computed with vectorised
numpy/pyarrow.compute; numeric columns get quantile bin edges and counts that later serve
as a fixed-bin drift reference."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.data.digest import normalise

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["QUANTILES", "profile"]

QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95,
             "p99": 0.99}


def profile(table: pa.Table, *, bins: int = 20, top_k: int = 50) -> dict[str, Any]:
    """A JSON-serialisable summary of every column (NaN and infinities become None).

    Each column has ``name``, ``kind`` (numeric, categorical, boolean, datetime, other),
    ``count`` (rows) and ``null_count``, plus by kind:

    - numeric: ``min``, ``max``, ``mean``, ``std`` (sample, ddof=1), ``non_finite_count``
      (NaN/inf, left out of every statistic), ``quantiles`` (p01 ... p99, linear as
      ``numpy.quantile``), ``bin_edges`` (the ``bins`` + 1 quantile edges, deduplicated;
      ``[v, v]`` for a constant column) and ``bin_counts``. Bin ``i`` holds
      ``edges[i] <= x < edges[i + 1]``, the last bin also ``x == edges[-1]``, so the counts
      sum to the finite non-null values. Used as a drift reference, later values below
      ``edges[0]`` or above ``edges[-1]`` are out of range and counted apart.
    - categorical (strings, dictionaries): ``distinct_count``, ``frequencies`` (the ``top_k``
      most frequent values, most frequent first, ties by value) and ``other_count``
      (every other non-null value).
    - boolean: ``true_count``, ``false_count``.
    - datetime: ``min`` and ``max`` as ISO-8601 strings.
    """
    if bins < 1 or top_k < 0:
        raise InvalidArgumentError("profile: bins must be >= 1 and top_k >= 0",
                                   details={"field": "bins" if bins < 1 else "top_k"})
    def one(i: int) -> dict[str, Any]:
        return _profile_column(table.column_names[i], normalise(table.column(i)), bins, top_k)

    indexes = range(table.num_columns)
    workers = min(os.cpu_count() or 1, 8, table.num_columns)
    if workers < 2 or table.num_rows < 50_000:
        return {"num_rows": table.num_rows, "columns": [one(i) for i in indexes]}
    with ThreadPoolExecutor(workers) as pool:  # numpy sorts and Arrow kernels release the GIL
        return {"num_rows": table.num_rows, "columns": list(pool.map(one, indexes))}


def _kind(t: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_large_string(t):
        return "categorical"
    return "other"


def _profile_column(name: str, col: pa.ChunkedArray, bins: int, top_k: int) -> dict[str, Any]:
    kind = _kind(col.type)
    out: dict[str, Any] = {"name": name, "kind": kind, "count": len(col),
                           "null_count": col.null_count}
    non_null = len(col) - col.null_count
    if kind == "numeric":
        out.update(_numeric(col, bins))
    elif kind == "categorical":
        out.update(_categorical(col, non_null, top_k))
    elif kind == "boolean":
        import pyarrow.compute as pc

        true_count = int(pc.sum(col).as_py() or 0)
        out.update(true_count=true_count, false_count=non_null - true_count)
    elif kind == "datetime":
        out.update(_datetime_range(col))
    return out


def _num(value: Any) -> float | None:
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _numeric(col: pa.ChunkedArray, bins: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    if pa.types.is_decimal(col.type):
        col = col.cast(pa.float64())
    values = col.drop_null().to_numpy()
    non_finite = 0
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        non_finite = int(values.size - np.count_nonzero(finite))
        if non_finite:
            values = values[finite]
    stats: dict[str, Any] = {"non_finite_count": non_finite}
    n = values.size
    if n == 0:
        return {**stats, "min": None, "max": None, "mean": None, "std": None,
                "quantiles": dict.fromkeys(QUANTILES), "bin_edges": [], "bin_counts": []}
    ordered = np.sort(values)
    floats = ordered.astype(np.float64, copy=False)
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
    counts[-1] = n - starts[-2]  # the last bin is closed on the right
    return {
        **stats,
        "min": ordered[0].item(), "max": ordered[-1].item(),
        "mean": _num(np.mean(floats)), "std": _num(np.std(floats, ddof=1)) if n > 1 else None,
        "quantiles": {k: _num(v) for k, v in zip(QUANTILES, cuts[bins + 1:], strict=True)},
        "bin_edges": [_num(e) for e in edges], "bin_counts": [int(c) for c in counts],
    }


def _categorical(col: pa.ChunkedArray, non_null: int, top_k: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    counted = col.drop_null().value_counts()
    table = pa.Table.from_arrays([counted.field("values"), counted.field("counts")],
                                 names=["value", "n"])
    keys = [("n", "descending"), ("value", "ascending")]
    top = table.take(pc.select_k_unstable(table, min(top_k, len(table)), sort_keys=keys))
    top = top.take(pc.sort_indices(top, sort_keys=keys))
    frequencies = dict(zip(top["value"].to_pylist(), top["n"].to_pylist(), strict=True))
    return {"distinct_count": len(table), "frequencies": frequencies,
            "other_count": non_null - sum(frequencies.values())}


def _datetime_range(col: pa.ChunkedArray) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(col.type) and col.type.unit == "ns":  # as_py() would need pandas
        col = col.cast(pa.timestamp("us", tz=col.type.tz), safe=False)
    bounds = pc.min_max(col).as_py()
    return {k: None if bounds[k] is None else bounds[k].isoformat() for k in ("min", "max")}
