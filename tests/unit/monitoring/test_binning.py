"""The table lookup bins exactly as np.searchsorted does, edge values and all."""

from __future__ import annotations

import numpy as np

from modelplane.monitoring.binning import NumericBlock
from modelplane.monitoring.profiles import ColumnLayout


def block_for(edges: list[np.ndarray]) -> NumericBlock:
    cols, offset = [], 0
    for i, e in enumerate(edges):
        cols.append(ColumnLayout(name=f"c{i}", role="feature", kind="numeric", offset=offset,
                                 size=e.size + 2, edges=tuple(e), numeric_index=i))
        offset += e.size + 2
    return NumericBlock(cols, edges)


def test_bins_equal_searchsorted_on_awkward_data() -> None:
    rng = np.random.default_rng(0)
    edges = [
        np.unique(np.quantile(rng.normal(size=50_000), np.linspace(0, 1, 101))),
        np.unique(np.quantile(rng.lognormal(0, 3, 50_000), np.linspace(0, 1, 101))),  # skewed
        np.unique(np.quantile(rng.integers(0, 5, 1000), np.linspace(0, 1, 21))),  # few, ties
        np.array([2.5, 2.5]),  # a constant column
        np.array([0.0, 1e-300, 2e-300, 1.0, 1e300]),  # edges crowded in one cell
    ]
    block = block_for(edges)
    n = 20_000
    x = np.stack([rng.normal(0.2, 1.3, n), rng.lognormal(0, 3, n),
                  rng.integers(-1, 7, n).astype(float), rng.choice([2.0, 2.5, 3.0], n),
                  rng.choice([0.0, 5e-301, 1e-300, 0.5, 1.0, 2.0, -1.0, 1e300, 2e300], n)])
    for j, e in enumerate(edges):  # every edge value itself, and its neighbours
        k = min(e.size, n // 3)
        x[j, :k] = e[:k]
        x[j, k: 2 * k] = np.nextafter(e[:k], np.inf)
        x[j, 2 * k: 3 * k] = np.nextafter(e[:k], -np.inf)
    finite = np.isfinite(x)
    got = block.bins(x, None)
    want = np.stack([np.searchsorted(e, x[j], side="right") for j, e in enumerate(edges)])
    assert np.array_equal(got, want)
    x[0, :5] = [np.nan, np.inf, -np.inf, np.nan, 0.0]
    finite = np.isfinite(x)
    got = block.bins(x, finite)
    want = np.stack([np.searchsorted(e, x[j], side="right") for j, e in enumerate(edges)])
    assert np.array_equal(got[finite], want[finite])
