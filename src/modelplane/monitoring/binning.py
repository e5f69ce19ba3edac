"""Binning many numeric columns at once, exactly as ``np.searchsorted(edges, x, 'right')``
would, but without a branchy binary search per value.

Each column's range ``[edges[0], edges[-1]]`` is cut into ``CELLS`` equal cells, and a
table gives, for each cell, how many edges lie at or below its left boundary: a value's
candidate bin is one multiply and one table lookup. The candidate is then checked against
the real edges (``edges[c - 1] <= x < edges[c]``); the few values whose cell holds an edge
(or that rounding put in a neighbouring cell) are tried one bin up, and anything still
unresolved goes through ``np.searchsorted``. So the result is exact, never approximate;
a very skewed column (most values in a few cells) just takes the slower path more often.
"""

from __future__ import annotations

import numpy as np

from modelplane.monitoring.profiles import ColumnLayout

__all__ = ["CELLS", "NumericBlock"]

CELLS = 2048


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
        self.low = np.array([e[0] for e in edges])[:, None] if k else np.zeros((0, 1))
        self.top = np.array([e[-1] for e in edges])[:, None] if k else np.zeros((0, 1))
        self.last_bin = (lengths - 1)[:, None]
        self.above = lengths[:, None]
        self.missing = (sizes - 1)[:, None]
        width = (self.top - self.low)[:, 0] if k else np.zeros(0)
        self.scale = np.where(width > 0, CELLS / np.where(width > 0, width, 1.0), 0.0)[:, None]
        cells = np.arange(CELLS)
        self.table = (np.stack([
            np.searchsorted(e, e[0] + cells / s if s else np.full(CELLS, e[0]), side="right")
            for e, s in zip(edges, self.scale[:, 0], strict=True)]).ravel()
            if k else np.zeros(0, np.int64))
        self.row_offset = (np.arange(k, dtype=np.int64) * CELLS)[:, None]
        # edges[c - 1] and edges[c] for a candidate c, both padded with infinities
        pad = lengths + 2
        self.edge_offset = np.concatenate([[0], np.cumsum(pad)[:-1]]).astype(np.int64)[:, None]
        self.below_edge = np.concatenate(
            [np.concatenate([[-np.inf], e, [np.inf]]) for e in edges]) if k else np.zeros(0)
        self.above_edge = np.concatenate(
            [np.concatenate([e, [np.inf, np.inf]]) for e in edges]) if k else np.zeros(0)

    def bins(self, x: np.ndarray, finite: np.ndarray | None) -> np.ndarray:
        """``searchsorted(edges_j, x[j], 'right')`` for every row ``j`` (values that are
        not finite get an arbitrary index: the caller counts them as missing)."""
        cell = (x - self.low) * self.scale
        if finite is not None:
            cell = np.where(finite, cell, 0.0)
        np.clip(cell, 0, CELLS - 1, out=cell)
        cand = self.table[cell.astype(np.int64) + self.row_offset]
        cand = np.where(x < self.low, 0, np.where(x > self.top, self.above, cand))
        at = cand + self.edge_offset
        bad = ~((self.below_edge[at] <= x) & (x < self.above_edge[at]))
        if finite is not None:
            bad &= finite
        if not bad.any():
            return cand
        rows, cols = np.nonzero(bad)
        up = at[rows, cols] + 1
        value = x[rows, cols]
        fits = (self.below_edge[up] <= value) & (value < self.above_edge[up])
        cand[rows[fits], cols[fits]] += 1
        rows, cols = rows[~fits], cols[~fits]
        for j in np.unique(rows):
            pick = cols[rows == j]
            cand[j, pick] = np.searchsorted(self.edges[j], x[j, pick], side="right")
        return cand

    def count(self, x: np.ndarray, slots: np.ndarray, sums: np.ndarray, mins: np.ndarray,
              maxs: np.ndarray) -> None:
        """Add the counts, sums and extremes of matrix ``x`` into a count vector's arrays."""
        finite = np.isfinite(x)
        clean = bool(finite.all())
        idx = self.bins(x, None if clean else finite)
        idx = np.where(x == self.top, self.last_bin, idx)  # the last bin is closed
        if not clean:
            idx = np.where(finite, idx, self.missing)
            x = np.where(finite, x, 0.0)
        counts = np.bincount((idx + self.starts[:, None]).ravel(), minlength=self.total)
        slots[self.targets] += counts
        part = sums[self.numeric]
        part[:, 0] += x.sum(axis=1)
        part[:, 1] += np.einsum("ij,ij->i", x, x)
        below, above = idx == 0, idx == self.above
        if below.any():
            part[:, 2] += np.where(below, x, 0.0).sum(axis=1)
        if above.any():
            part[:, 3] += np.where(above, x, 0.0).sum(axis=1)
        sums[self.numeric] = part
        lo = x if clean else np.where(finite, x, np.inf)
        hi = x if clean else np.where(finite, x, -np.inf)
        mins[self.numeric] = np.minimum(mins[self.numeric], lo.min(axis=1))
        maxs[self.numeric] = np.maximum(maxs[self.numeric], hi.max(axis=1))
