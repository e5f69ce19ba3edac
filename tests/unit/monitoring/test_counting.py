"""Batch counting against direct computations: numeric slots as ``np.searchsorted`` over the
profile's edges (last bin closed), categorical slots as a per-value dictionary lookup,
whatever form the column comes in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelplane.monitoring.categories import category_counts
from modelplane.monitoring.counts import count_frame
from modelplane.monitoring.profiles import Layout, build_profile


def test_numeric_slots_and_sums_equal_a_direct_count() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.lognormal(0, 3, 5000),
                        "i": rng.integers(0, 5, 5000).astype(float)})
    layout = Layout.from_profiles(build_profile(ref, bins=40))
    n = 3000
    cur = {"a": rng.normal(0.5, 2, n), "b": rng.lognormal(0, 3.5, n),
           "i": rng.integers(-1, 7, n).astype(float)}
    for col in layout.columns:  # every edge, the top edge, its neighbours, non-finite
        e = np.asarray(col.edges)
        x = cur[col.name]
        x[: e.size] = e
        x[e.size: 2 * e.size] = np.nextafter(e, np.inf)
        x[2 * e.size: 3 * e.size] = np.nextafter(e, -np.inf)
        x[-6:] = [np.nan, np.inf, -np.inf, e[-1], e[-1], -1e300]
    got = count_frame(layout, pd.DataFrame(cur))
    for col in layout.columns:
        e, x = np.asarray(col.edges), cur[col.name]
        finite = x[np.isfinite(x)]
        idx = np.searchsorted(e, finite, side="right")
        idx[finite == e[-1]] = e.size - 1  # the last bin is closed
        want = np.r_[np.bincount(idx, minlength=e.size + 1), x.size - finite.size]
        assert np.array_equal(got.column(col), want), col.name
        sums = got.sums[col.numeric_index]
        assert sums[2] == pytest.approx(finite[idx == 0].sum(), rel=1e-12)
        assert sums[3] == pytest.approx(finite[idx == e.size].sum(), rel=1e-12)


def test_category_counts_equal_a_lookup_in_every_form() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"c": rng.choice(["a", "b", "c"], 2000),
                        "f": rng.random(2000) < 0.3})
    layout = Layout.from_profiles(build_profile(ref))
    cats = {c.name: c for c in layout.columns}
    values = list(rng.choice(["a", "b", "c", "new", None], 6000))
    values[:3] = [None, "other", "a"]
    many = [f"v{i}" for i in rng.integers(0, 500, 6000)] + ["a", None]
    flags = list(rng.choice([True, False, None], 5000))
    for name, column in (("c", values), ("c", many), ("f", flags)):
        col = cats[name]
        lookup = {v: i for i, v in enumerate(col.categories)}
        k = len(col.categories)
        want = np.zeros(col.size, np.int64)
        for v in column:
            want[k + 1 if v is None else lookup.get(v, k)] += 1
        series = pd.Series(column, dtype=object)
        forms = [column, column[:1000], tuple(column), series, pa.array(column),
                 pa.chunked_array([pa.array(column[:10]), pa.array(column[10:])])]
        if name == "c":
            forms.append(pd.Series(column, dtype="str"))
        for form in forms:
            n = len(form)
            expected = want if n == len(column) else _count(column[:n], lookup, k, col.size)
            assert np.array_equal(category_counts(form, col, lookup), expected), type(form)


def _count(values: list, lookup: dict, k: int, size: int) -> np.ndarray:
    out = np.zeros(size, np.int64)
    for v in values:
        out[k + 1 if v is None else lookup.get(v, k)] += 1
    return out
