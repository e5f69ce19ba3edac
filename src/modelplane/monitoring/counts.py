"""Binned counts over a reference :class:`~modelplane.monitoring.profiles.Layout`.

A :class:`CountVector` is additive: counting two batches and adding the vectors equals
counting their union, so the prediction log keeps one vector per (reference, version,
time bucket) and a window of ten million predictions is a sum of a few hundred vectors,
never a rescan. Counting a batch is one ``np.searchsorted`` + ``np.bincount`` per numeric
column and one dictionary lookup (or ``pyarrow.compute.index_in``) per categorical column.

Besides the slots, each numeric column keeps ``sum``, ``sum of squares``, the sums of the
values below and above the reference range (to place out-of-range mass for the Wasserstein
distance) and the minimum and maximum.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from modelplane.monitoring.binning import NumericBlock
from modelplane.monitoring.categories import category_counts
from modelplane.monitoring.profiles import PREDICTION_COLUMN, ColumnLayout, Layout

__all__ = ["CountVector", "count_frame", "count_rows", "flatten_outputs", "row_features"]

_SUMS = 4  # sum, sum of squares, sum below range, sum above range


class CountVector:
    """Counts of one window (or batch) over a layout; ``n`` is the number of rows."""

    __slots__ = ("maxs", "mins", "n", "slots", "sums")

    def __init__(self, slots: np.ndarray, sums: np.ndarray, mins: np.ndarray,
                 maxs: np.ndarray, n: int) -> None:
        self.slots, self.sums, self.mins, self.maxs, self.n = slots, sums, mins, maxs, n

    @classmethod
    def empty(cls, layout: Layout) -> CountVector:
        k = layout.numeric_count
        return cls(np.zeros(layout.size, np.int64), np.zeros((k, _SUMS)),
                   np.full(k, np.inf), np.full(k, -np.inf), 0)

    def add(self, other: CountVector) -> CountVector:
        """Add ``other`` into this vector (in place) and return it."""
        self.slots += other.slots
        self.sums += other.sums
        np.minimum(self.mins, other.mins, out=self.mins)
        np.maximum(self.maxs, other.maxs, out=self.maxs)
        self.n += other.n
        return self

    def column(self, col: ColumnLayout) -> np.ndarray:
        return self.slots[col.offset: col.offset + col.size]

    def to_bytes(self) -> tuple[bytes, bytes, bytes]:
        extremes = np.stack([self.mins, self.maxs], axis=1) if self.mins.size else self.mins
        return (self.slots.astype("<i8").tobytes(), self.sums.astype("<f8").tobytes(),
                np.asarray(extremes, "<f8").tobytes())

    @classmethod
    def from_bytes(cls, layout: Layout, slots: bytes, sums: bytes, extremes: bytes,
                   n: int) -> CountVector:
        k = layout.numeric_count
        s = np.frombuffer(slots, "<i8").astype(np.int64)
        if s.size != layout.size:
            raise ValueError("stored counts do not match the reference layout")
        ext = np.frombuffer(extremes, "<f8").reshape(k, 2) if k else np.zeros((0, 2))
        return cls(s, np.frombuffer(sums, "<f8").reshape(k, _SUMS).copy(),
                   ext[:, 0].copy(), ext[:, 1].copy(), int(n))


# -- counting ---------------------------------------------------------------------------


def _edges(layout: Layout) -> dict[str, np.ndarray]:
    cached = getattr(layout, "_edge_arrays", None)
    if cached is None:
        cached = {c.key: np.asarray(c.edges, np.float64) for c in layout.columns
                  if c.kind == "numeric"}
        layout._edge_arrays = cached  # type: ignore[attr-defined]
    return cached


def _lookups(layout: Layout) -> dict[str, dict[Any, int]]:
    cached = getattr(layout, "_lookups", None)
    if cached is None:
        cached = {c.key: {v: i for i, v in enumerate(c.categories)} for c in layout.columns
                  if c.kind == "categorical"}
        layout._lookups = cached  # type: ignore[attr-defined]
    return cached


def _as_float(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(values, pa.ChunkedArray | pa.Array):
        import pyarrow.compute as pc

        try:
            return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = values.to_pylist()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([_float_or_nan(v) for v in values], np.float64)


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _count_numeric(values: Any, col: ColumnLayout, edges: np.ndarray, out: CountVector) -> None:
    x = _as_float(values)
    finite = np.isfinite(x)
    missing = x.size - int(np.count_nonzero(finite))
    if missing:
        x = x[finite]
    idx = np.searchsorted(edges, x, side="right")
    top = edges.size
    if x.size:
        idx[x == edges[-1]] = top - 1  # the last bin is closed on the right
    counts = np.bincount(idx, minlength=top + 1)
    slots = out.slots[col.offset: col.offset + col.size]
    slots[:-1] += counts
    slots[-1] += missing
    if x.size:
        row = out.sums[col.numeric_index]
        row[0] += float(x.sum())
        row[1] += float(np.einsum("i,i->", x, x))  # np.dot may spin BLAS threads
        if counts[0]:
            row[2] += float(x[idx == 0].sum())
        if counts[-1]:
            row[3] += float(x[idx == top].sum())
        out.mins[col.numeric_index] = min(out.mins[col.numeric_index], float(x.min()))
        out.maxs[col.numeric_index] = max(out.maxs[col.numeric_index], float(x.max()))


def _block(layout: Layout, role: str) -> NumericBlock:
    cache = getattr(layout, "_blocks", None)
    if cache is None:
        cache = layout._blocks = {}  # type: ignore[attr-defined]
    if role not in cache:
        cols = [c for c in layout.columns if c.kind == "numeric" and c.role == role]
        edges = _edges(layout)
        cache[role] = NumericBlock(cols, [_closed(edges[c.key]) for c in cols])
    return cache[role]  # type: ignore[no-any-return]


def _closed(edges: np.ndarray) -> np.ndarray:
    """Edges whose last bin also holds the last edge: ``searchsorted(closed, x, 'right')``
    is the profile's bin of ``x`` (``len(edges)`` above the range)."""
    out = edges.copy()
    out[-1] = np.nextafter(out[-1], np.inf)
    return out


def _count_block(block: NumericBlock, x: np.ndarray, out: CountVector) -> None:
    """Count a ``(columns, rows)`` float64 matrix of ``block``'s columns at once."""
    if x.size:
        block.count(x, out.slots, out.sums, out.mins, out.maxs)


def _frame_matrix(role: str, frame: Any, cols: list[ColumnLayout],
                  source: Mapping[str, Any]) -> np.ndarray:
    """The numeric columns as a matrix; a pandas DataFrame converts in one call."""
    pd = sys.modules.get("pandas")
    if (role == "feature" and pd is not None and isinstance(frame, pd.DataFrame)
            and isinstance(source, _FrameColumns)):
        try:
            if source.unique:  # else a repeated name would select several columns
                at = [source.positions[c.name] for c in cols]
                block = frame.take(at, axis=1).to_numpy(dtype=np.float64, na_value=np.nan)
                return np.ascontiguousarray(block.T)
        except (TypeError, ValueError):
            pass  # a column that does not convert: one at a time
    return _matrix([source[c.name] for c in cols])


def _matrix(columns: list[Any]) -> np.ndarray:
    """Columns as one ``(columns, rows)`` float64 matrix (unparseable values are NaN)."""
    return np.stack([_as_float(c) for c in columns]) if columns else np.zeros((0, 0))


def _count_column(values: Any, col: ColumnLayout, layout: Layout, out: CountVector) -> None:
    if col.kind == "numeric":
        _count_numeric(values, col, _edges(layout)[col.key], out)
        return
    out.slots[col.offset: col.offset + col.size] += category_counts(
        values, col, _lookups(layout)[col.key])


class _FrameColumns(Mapping[str, Any]):
    """A DataFrame's columns by name, each taken only when asked for."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        labels = list(frame.columns)
        self.names = {str(c): c for c in labels}
        self.unique = len(self.names) == len(labels)
        self.positions = {str(c): i for i, c in enumerate(labels)}

    def __getitem__(self, name: str) -> Any:
        return self.frame[self.names[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names


def _columns_of(data: Any) -> tuple[int, Mapping[str, Any]]:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        return len(data), _FrameColumns(data)
    if isinstance(data, Mapping):
        first: Any = next(iter(data.values()), [])
        return len(first), {str(k): v for k, v in data.items()}
    from modelplane.data import to_arrow

    table = to_arrow(data)
    return table.num_rows, {name: table.column(name) for name in table.column_names}


def count_frame(layout: Layout, features: Any, predictions: Any = None) -> CountVector:
    """Count a batch given as columns (DataFrame, Arrow table, dict of arrays). A column
    the batch lacks counts as missing for every row."""
    out = CountVector.empty(layout)
    n, columns = _columns_of(features)
    sides = {"feature": (n, columns)}
    if predictions is not None:
        sides["prediction"] = _columns_of(_prediction_frame(predictions))
    for role, (rows, source) in sides.items():
        block = _block(layout, role)
        present = [c for c in block.cols if c.name in source]
        if len(present) == len(block.cols):
            _count_block(block, _frame_matrix(role, features, present, source), out)
        else:
            for col in present:
                _count_column(source[col.name], col, layout, out)
        for col in layout.columns:
            if col.role != role or col.name in source:
                continue
            out.slots[col.offset + col.size - 1] += rows
        for col in layout.columns:
            if col.role == role and col.kind != "numeric" and col.name in source:
                _count_column(source[col.name], col, layout, out)
    out.n = n
    return out


def _prediction_frame(predictions: Any) -> Any:
    if isinstance(predictions, list | tuple):
        predictions = np.asarray(predictions)
    if isinstance(predictions, np.ndarray) and predictions.ndim == 1:
        return {PREDICTION_COLUMN: predictions}
    if getattr(predictions, "ndim", 2) == 1 and hasattr(predictions, "to_frame"):
        return {PREDICTION_COLUMN: predictions}
    return predictions


def row_features(inputs: Any, names: Sequence[str]) -> dict[str, Any]:
    """A logged input as ``{feature: value}``: a dict as is, a list or tuple by position
    in the reference's feature order (extra positions named ``f<i>``)."""
    if isinstance(inputs, Mapping):
        return inputs  # type: ignore[return-value]
    if isinstance(inputs, list | tuple):
        return {(names[i] if i < len(names) else f"f{i}"): v for i, v in enumerate(inputs)}
    return {}


def flatten_outputs(outputs: Any) -> dict[str, Any]:
    """A logged output as ``{column: scalar}``: a scalar is ``prediction``; a dict keeps
    its scalar entries; a one-element list is ``prediction``; a longer list is
    ``prediction_0``, ``prediction_1``, ..."""
    if isinstance(outputs, Mapping):
        return {str(k): v for k, v in outputs.items() if not isinstance(v, list | dict)}
    if isinstance(outputs, list | tuple):
        if len(outputs) == 1 and not isinstance(outputs[0], list | dict):
            return {PREDICTION_COLUMN: outputs[0]}
        return {f"{PREDICTION_COLUMN}_{i}": v for i, v in enumerate(outputs)
                if not isinstance(v, list | dict)}
    return {PREDICTION_COLUMN: outputs}


def count_rows(layout: Layout, inputs: Iterable[Any], outputs: Iterable[Any]) -> CountVector:
    """Count prediction-log rows: each input a dict (or row list) and each output as
    :func:`flatten_outputs` reads it."""
    names = layout.feature_names
    feature_rows = [row_features(i, names) for i in inputs]
    output_rows = [flatten_outputs(o) for o in outputs]
    out = CountVector.empty(layout)
    for role, rows in (("feature", feature_rows), ("prediction", output_rows)):
        block = _block(layout, role)
        if block.cols and rows:
            _count_block(block, _matrix([[r.get(c.name) for r in rows] for c in block.cols]),
                         out)
        for col in layout.columns:
            if col.role == role and col.kind != "numeric":
                _count_column([r.get(col.name) for r in rows], col, layout, out)
    out.n = len(feature_rows)
    return out
