"""The sort-free exact statistics (monitoring.ks) against SciPy and NumPy: KS statistic and
flags against ``ks_2samp``, order statistics and ranks against ``np.sort`` and
``np.searchsorted``, the raw-data profile against ``datasets.profile``, on random data with
ties, heavy tails, extreme values and constants."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelplane.monitoring.counts import CountVector, count_frame
from modelplane.monitoring.ks import Grid, Side, exact_ks
from modelplane.monitoring.profiles import Layout
from modelplane.monitoring.raw import numeric_pair

SAMPLES = {
    "normal": lambda rng, n, s: rng.normal(s, 1, n),
    "ties": lambda rng, n, s: rng.integers(0, 20, n).astype(float) + (s > 0.2),
    "rounded": lambda rng, n, s: np.round(rng.normal(s, 1, n), 2),
    "binary": lambda rng, n, s: (rng.random(n) < 0.5 + s / 10).astype(float),
    "lognormal": lambda rng, n, s: rng.lognormal(s, 3, n),
    "outliers": lambda rng, n, s: np.where(rng.random(n) < 0.01, 1e300, rng.normal(s, 1, n)),
    "huge range": lambda rng, n, s: np.r_[rng.normal(s, 1, n - 2), -1.7e308, 1.7e308],
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_exact_ks_equals_scipy_on_random_data(kind: str) -> None:
    rng = np.random.default_rng(sorted(SAMPLES).index(kind))
    make = SAMPLES[kind]
    for trial in range(12):
        n1 = int(rng.integers(10_001, 40_000))
        n2 = n1 if trial % 3 == 0 else int(rng.integers(10_001, 40_000))
        shift = float(rng.choice([0.0, 0.0, 0.005, 0.02, 0.5]))
        a, b = make(rng, n1, 0.0), make(rng, n2, shift)
        d, p = exact_ks(a, b)  # in data order: nothing is sorted
        want = stats.ks_2samp(a, b)
        assert d == pytest.approx(want.statistic, rel=1e-12, abs=1e-15), (kind, trial)
        assert (p < 0.05) == (want.pvalue < 0.05), (kind, trial, p, want.pvalue)
        if 0.005 <= want.pvalue <= 0.5:  # near alpha: SciPy's own distribution
            assert p == pytest.approx(want.pvalue, rel=1e-9)


def test_exact_ks_of_a_constant_and_of_identical_samples() -> None:
    rng = np.random.default_rng(1)
    a = np.full(20_000, 3.0)
    b = np.r_[np.full(15_000, 3.0), rng.normal(3, 1, 5_000)]
    assert exact_ks(a, b)[0] == pytest.approx(stats.ks_2samp(a, b).statistic, rel=1e-12)
    assert exact_ks(a, a.copy()) == (0.0, 1.0)
    x = rng.normal(size=30_000)
    assert exact_ks(x, rng.permutation(x))[0] == 0.0


def test_order_statistics_and_ranks_equal_numpy() -> None:
    rng = np.random.default_rng(2)
    for make in SAMPLES.values():
        x = make(rng, 50_000, 0.0)
        grid = Grid.spanning(x)
        side = Side(x, grid)
        ordered = np.sort(x)
        ranks = np.unique(rng.integers(0, x.size, 300))
        marked = np.zeros(grid.k, np.bool_)
        marked[side.cell_of_rank(ranks)] = True
        queries = np.r_[ordered[ranks], np.nextafter(ordered[ranks], np.inf)]
        marked[grid.cells(queries)] = True
        side.pick(marked)
        assert np.array_equal(side.order(ranks), ordered[ranks])
        for how in ("left", "right"):
            assert np.array_equal(side.rank(queries, how),
                                  np.searchsorted(ordered, queries, side=how))
        # a query in a cell that was not picked is still counted exactly
        loose = np.array([ordered[x.size // 3], ordered[-1]])
        assert np.array_equal(side.rank(loose, "right"),
                              np.searchsorted(ordered, loose, side="right"))


@pytest.mark.parametrize("n", [1, 2, 9, 3_000, 25_000])
def test_the_raw_profile_and_counts_equal_the_dataset_profile_and_count_frame(n: int) -> None:
    from modelplane.data import profile, to_arrow

    rng = np.random.default_rng(n)
    kinds = {k: v for k, v in SAMPLES.items() if k not in ("outliers", "huge range")}
    kinds["outliers"] = lambda rng, n, s: np.where(rng.random(n) < 0.05, 1e150,
                                                   rng.normal(s, 1, n))  # std stays finite
    kinds["constant"] = lambda rng, n, s: np.full(n, 2.5)
    for make in kinds.values():
        ref = make(rng, n, 0.0) if n > 2 else rng.normal(size=n)
        ref[: n // 50] = np.nan
        cur = np.r_[make(rng, n + 5, 0.3), np.inf, np.nan, -1e9, ref[-1], ref[0]]
        want = profile(to_arrow({"v": ref}), bins=30)["columns"][0]
        got, extra = numeric_pair("v", "feature", ref, cur, 30, exact=True)
        for key in ("mean", "std"):  # summed in the data's order, not sorted
            mine, theirs = got.pop(key), want.pop(key)
            assert mine == theirs if theirs is None else mine == pytest.approx(theirs, rel=1e-12)
        assert got == want
        layout = Layout.from_profiles({"columns": [{**want, "mean": 0.0, "std": 1.0}]})
        counted = count_frame(layout, {"v": cur})
        part, ks = extra
        assert isinstance(part, CountVector)
        assert np.array_equal(part.slots, counted.slots)
        np.testing.assert_allclose(part.sums, counted.sums, rtol=1e-12)
        assert part.mins[0] == counted.mins[0] and part.maxs[0] == counted.maxs[0]
        finite_ref, finite_cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
        scipy_d = stats.ks_2samp(finite_ref, finite_cur).statistic
        assert ks[0] == pytest.approx(scipy_d, rel=1e-12, abs=1e-15)
