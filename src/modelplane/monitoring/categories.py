"""Counting the values of a categorical column into its slots: ``0..K-1`` the reference's
categories, ``K`` other (a value the reference did not list), ``K+1`` missing (null, NaN).

A string or boolean column with few distinct values is counted by Arrow's value counts and
one dictionary lookup per distinct value; otherwise each value gets its slot (Arrow's
``index_in`` for large or Arrow input, a dictionary lookup for short Python lists).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from modelplane.monitoring.profiles import ColumnLayout

__all__ = ["category_counts"]

_ARROW_MIN_ROWS = 4096  # below this a dict lookup beats converting to Arrow


def _category_slots(values: Any, col: ColumnLayout, lookup: dict[Any, int]) -> np.ndarray:
    """Slot index per value: ``0..K-1`` a category, ``K`` other (unseen), ``K+1`` missing."""
    k = len(col.categories)
    n = len(values)
    pa = sys.modules.get("pyarrow")
    is_arrow = pa is not None and isinstance(values, pa.ChunkedArray | pa.Array)
    if n >= _ARROW_MIN_ROWS or is_arrow or not isinstance(values, list | tuple):
        arrow = _arrow_slots(values, col, k)
        if arrow is not None:
            return arrow
    if is_arrow:
        values = values.to_pylist()
    boolean = col.categories == (True, False)
    out = np.empty(n, np.int64)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            out[i] = k + 1
        elif isinstance(v, str) or boolean:
            out[i] = lookup.get(v, k)
        else:
            out[i] = lookup.get(str(v), k)
    return out


_VALUE_SETS: dict[tuple[tuple[Any, ...], str], Any] = {}


def _value_set(categories: tuple[Any, ...], arrow_type: Any) -> Any:
    key = (categories, str(arrow_type))
    found = _VALUE_SETS.get(key)
    if found is None:
        import pyarrow as pa

        if len(_VALUE_SETS) > 256:
            _VALUE_SETS.clear()
        found = _VALUE_SETS[key] = pa.array([str(c) for c in categories], type=arrow_type)
    return found


def _arrow_array(values: Any) -> Any:
    """``values`` as an Arrow array, or None when Arrow cannot take them."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray | pa.Array):
        return values
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None


def _arrow_slots(values: Any, col: ColumnLayout, k: int) -> np.ndarray | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow_array(values)
    if arr is None:
        return None
    floating = pa.types.is_floating(arr.type)
    null = pc.is_null(arr, nan_is_null=True) if arr.null_count or floating else None
    if col.categories == (True, False):
        if not pa.types.is_boolean(arr.type):
            return None
        idx = np.where(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), 0, 1)
    else:
        if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
            try:
                arr = pc.cast(arr, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
        found = pc.index_in(arr, value_set=_value_set(col.categories, arr.type))
        idx = np.asarray(pc.fill_null(found, k).to_numpy(zero_copy_only=False))
    if null is not None:
        idx = idx.astype(np.int64)
        idx[null.to_numpy(zero_copy_only=False)] = k + 1
    return idx


_FEW_DISTINCT = 64  # up to this many distinct values, look each up in Python


def category_counts(values: Any, col: ColumnLayout, lookup: dict[Any, int]) -> np.ndarray:
    """Counts per slot of a categorical column. A string (or boolean) column with few
    distinct values: Arrow's value counts, then one lookup per distinct value; else the
    slot of every value, counted."""
    pa = sys.modules.get("pyarrow")
    is_arrow = pa is not None and isinstance(values, pa.ChunkedArray | pa.Array)
    if len(values) >= _ARROW_MIN_ROWS or is_arrow or not isinstance(values, list | tuple):
        arr = _arrow_array(values)
        if arr is not None and _counted_type(arr.type, col):
            import pyarrow.compute as pc

            counted = pc.value_counts(arr)
            if len(counted) <= _FEW_DISTINCT:
                k = len(col.categories)
                out = np.zeros(col.size, np.int64)
                for v, n in zip(counted.field("values").to_pylist(),
                                counted.field("counts").to_pylist(), strict=True):
                    out[k + 1 if v is None else lookup.get(v, k)] += n
                return out
            values = arr
    return np.bincount(_category_slots(values, col, lookup), minlength=col.size)


def _counted_type(arrow_type: Any, col: ColumnLayout) -> bool:
    import pyarrow as pa

    if col.categories == (True, False):
        return bool(pa.types.is_boolean(arrow_type))
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))
