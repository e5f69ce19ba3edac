"""Binning many numeric columns at once, exactly as ``np.searchsorted(edges, x, 'right')``
would, but without a branchy binary search per value.

Each column's range ``[edges[0], edges[-1]]`` is cut into ``CELLS`` equal cells by
``cell(x) = floor(clip((x - edges[0]) * scale, 0, CELLS - 1))``. That function is
monotone in floating point (a subtraction, a multiplication by a non-negative number, a
clamp and a truncation all are), so an edge in a lower cell than ``x`` is below ``x``
and one in a higher cell is above it; only the edges in ``x``'s own cell need comparing.
The edges get their cells from the same function, so a table gives, per cell, how many
edges lie in lower cells, and ``x`` is compared with the next edge up as many times as a
cell holds edges (once or twice for quantile edges). No rounding can make the result
inexact. A column whose cell holds more than ``MAX_STEPS`` edges (very skewed values)
is binned with ``np.searchsorted`` instead.
"""

from __future__ import annotations

import numpy as np

from modelplane.monitoring.profiles import ColumnLayout

__all__ = ["CELLS", "NumericBlock"]

CELLS = 2048
MAX_STEPS = 4


class NumericBlock:
    """The numeric columns of one role of a layout, with the lookup tables to bin a
    ``(columns, rows)`` matrix of them in one pass."""

    def __init__(self, cols: list[ColumnLayout], edges: list[np.ndarray]) -> None:
        self.cols, self.edges = cols, edges
        k = len(cols)
        sizes = np.array([c.size for c in cols], np.int64)
        lengths = np.array([e.size for e in edges], np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.total = int(sizes.sum())
        self.targets = (np.concatenate([np.arange(c.offset, c.offset + c.size) for c in cols])
                        if k else np.zeros(0, np.int64))
        self.numeric = np.array([c.numeric_index for c in cols], np.int64)
        low = np.array([e[0] for e in edges]) if k else np.zeros(0)
        width = np.array([e[-1] for e in edges]) - low if k else np.zeros(0)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            scale = np.where(width > 0, CELLS / np.where(width > 0, width, 1.0), 0.0)
        self.low, self.scale = low[:, None], np.where(np.isfinite(scale), scale, 0.0)[:, None]
        # each column's edges followed by a NaN (x >= NaN is never true), flattened
        pad = lengths + 1
        self.edge_offset = np.concatenate([[0], np.cumsum(pad)[:-1]]).astype(np.int64)[:, None]
        self.flat = (np.concatenate([np.concatenate([e, [np.nan]]) for e in edges]) if k
                     else np.zeros(0))
        tables, self.steps, self.slow = [], 0, []
        for j, e in enumerate(edges):
            own = self._cells(e, self.low[j, 0], self.scale[j, 0])
            tables.append(np.searchsorted(own, np.arange(CELLS), side="left")
                          + self.edge_offset[j, 0])
            most = int(np.bincount(own, minlength=CELLS).max())
            if most > MAX_STEPS:
                self.slow.append(j)
            else:
                self.steps = max(self.steps, most)
        self.table = np.concatenate(tables) if k else np.zeros(0, np.int64)
        self.row_offset = (np.arange(k, dtype=np.int64) * CELLS)[:, None]
        self.delta = self.starts[:, None] - self.edge_offset  # global position -> slot
        self.below_slot = self.starts[:, None]
        self.above_slot = (self.starts + lengths)[:, None]
        self.missing_slot = (self.starts + sizes - 1)[:, None]

    @staticmethod
    def _cells(x: np.ndarray, low: np.ndarray | float, scale: np.ndarray | float,
               finite: np.ndarray | None = None) -> np.ndarray:
        """The cell of each value, monotone in the value (a value that is not finite,
        where ``finite`` says so, goes to cell 0)."""
        with np.errstate(over="ignore", invalid="ignore"):  # huge values: clipped
            c = np.subtract(x, low)
            c *= scale
        np.clip(c, 0.0, CELLS - 1, out=c)
        if finite is not None:
            np.copyto(c, 0.0, where=~finite)
        return c.astype(np.int64)

    def _positions(self, x: np.ndarray, finite: np.ndarray | None) -> np.ndarray:
        """``searchsorted(edges_j, x[j], 'right')`` plus row ``j``'s offset in ``flat``
        (``finite``: None when every value is)."""
        cell = self._cells(x, self.low, self.scale, finite)
        cell += self.row_offset
        found = self.table[cell]
        for _ in range(self.steps):
            found += x >= self.flat[found]
        for j in self.slow:
            found[j] = (np.searchsorted(self.edges[j], x[j], side="right")
                        + self.edge_offset[j, 0])
        return found

    def bins(self, x: np.ndarray, finite: np.ndarray | None = None) -> np.ndarray:
        """``searchsorted(edges_j, x[j], 'right')`` for every row ``j`` (values that are
        not finite get an arbitrary index: the caller counts them as missing)."""
        if finite is None:
            finite = np.isfinite(x)
        return self._positions(x, None if finite.all() else finite) - self.edge_offset

    def count(self, x: np.ndarray, slots: np.ndarray, sums: np.ndarray, mins: np.ndarray,
              maxs: np.ndarray) -> None:
        """Add the counts, sums and extremes of matrix ``x`` into a count vector's arrays.
        The block's last edges must be closed: ``nextafter(edges[-1], inf)``, so that a
        value equal to the profile's last edge falls in the last bin."""
        finite = np.isfinite(x)
        clean = bool(finite.all())
        slot = self._positions(x, None if clean else finite)
        slot += self.delta
        if not clean:
            slot = np.where(finite, slot, self.missing_slot)
            x = np.where(finite, x, 0.0)
        counts = np.bincount(slot.ravel(), minlength=self.total)
        slots[self.targets] += counts
        part = sums[self.numeric]
        part[:, 0] += x.sum(axis=1)
        part[:, 1] += np.einsum("ij,ij->i", x, x)
        if counts[self.below_slot].any():
            part[:, 2] += np.where(slot == self.below_slot, x, 0.0).sum(axis=1)
        if counts[self.above_slot].any():
            part[:, 3] += np.where(slot == self.above_slot, x, 0.0).sum(axis=1)
        sums[self.numeric] = part
        lo = x if clean else np.where(finite, x, np.inf)
        hi = x if clean else np.where(finite, x, -np.inf)
        mins[self.numeric] = np.minimum(mins[self.numeric], lo.min(axis=1))
        maxs[self.numeric] = np.maximum(maxs[self.numeric], hi.max(axis=1))
