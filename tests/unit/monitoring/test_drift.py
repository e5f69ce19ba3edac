"""Drift scores: PSI against a direct NumPy computation, KS and chi-squared against
SciPy, incremental counting against one-shot counting, out-of-range and unseen values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelplane.core.errors import InvalidArgumentError
from modelplane.monitoring.counts import CountVector, count_frame, count_rows
from modelplane.monitoring.drift import DriftOptions, exact_ks, ks_p_value, score_counts
from modelplane.monitoring.profiles import Layout, build_profile
from modelplane.monitoring.raw import compare, numeric_profile


def frames(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({
        "same": rng.normal(size=n), "small": rng.normal(size=n), "big": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
        "flag": rng.random(n) < 0.3})
    cur = pd.DataFrame({
        "same": rng.normal(size=n), "small": rng.normal(0.05, 1, size=n),
        "big": rng.normal(0.5, 1, size=n),
        "colour": rng.choice(["red", "green", "blue"], n, p=[0.3, 0.3, 0.4]),
        "flag": rng.random(n) < 0.3})
    return ref, cur


def numpy_psi(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray) -> float:
    def shares(x: np.ndarray) -> np.ndarray:
        inner = np.histogram(x, bins=edges)[0]
        counts = np.concatenate([[np.sum(x < edges[0])], inner, [np.sum(x > edges[-1])]])
        s = counts / x.size
        return np.where(s == 0, 1e-4, s)

    r, c = shares(ref), shares(cur)
    return float(np.sum((r - c) * np.log(r / c)))


def test_psi_equals_a_direct_numpy_computation() -> None:
    ref, cur = frames(20_000)
    result = compare(ref, cur)
    layout = Layout.from_profiles(build_profile(ref))
    for name in ("same", "small", "big"):
        deciles = np.asarray(layout.by_key[name].edges)[::10]
        expected = numpy_psi(ref[name].to_numpy(), cur[name].to_numpy(), deciles)
        assert result.column(name).scores["psi"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("n", [3_000, 40_000])  # scipy's exact and asymptotic branches
def test_exact_ks_equals_scipy_and_flags_agree(n: int) -> None:
    ref, cur = frames(n, seed=n)
    result = compare(ref, cur)
    for name in ("same", "small", "big"):
        want = stats.ks_2samp(ref[name], cur[name])
        col = result.column(name)
        assert col.ks_exact
        assert col.scores["ks"] == pytest.approx(want.statistic, rel=1e-12)
        if n <= 10_000 or 0.005 <= want.pvalue <= 0.5:
            assert col.scores["ks_p_value"] == pytest.approx(want.pvalue, rel=1e-9)
        else:
            assert col.scores["ks_p_value"] == pytest.approx(want.pvalue, rel=0.05, abs=1e-12)
        assert (col.p_value < 0.05) == (want.pvalue < 0.05)


@pytest.mark.parametrize("en", [3_000, 50_000])
def test_ks_p_values_equal_scipy_near_alpha_and_agree_on_flags(en: int) -> None:
    from scipy.stats import distributions

    for z in np.linspace(0.3, 3.0, 25):
        d = z / np.sqrt(en)
        want = float(distributions.kstwo.sf(d, en))
        got = ks_p_value(d, 2 * en, 2 * en)
        assert (got < 0.05) == (want < 0.05)
        if 0.005 <= want <= 0.5:
            assert got == pytest.approx(want, rel=1e-12)
        else:
            assert got == pytest.approx(want, rel=0.05, abs=1e-12)


def test_the_sorted_profile_equals_the_dataset_profile() -> None:
    from modelplane.data import profile, to_arrow

    rng = np.random.default_rng(4)
    for values in (rng.normal(size=5001), rng.integers(0, 5, 3000).astype(float),
                   np.full(10, 2.5), np.array([1.0, np.inf, np.nan, 3.0])):
        want = profile(to_arrow({"v": values}), bins=20)["columns"][0]
        finite = np.sort(values[np.isfinite(values)])
        got = numeric_profile("v", finite, values.size, 0, int((~np.isfinite(values)).sum()),
                              20)
        assert got == want


def test_exact_ks_handles_ties() -> None:
    rng = np.random.default_rng(3)
    a = np.sort(rng.integers(0, 20, 30_000).astype(float))
    b = np.sort(rng.integers(1, 21, 25_000).astype(float))
    d, p = exact_ks(a, b)
    want = stats.ks_2samp(a, b)
    assert d == pytest.approx(want.statistic, rel=1e-12)
    assert p < 1e-30 and want.pvalue < 1e-30  # far from alpha: the limiting distribution


def test_binned_ks_is_within_its_bound_of_the_exact_statistic() -> None:
    ref, cur = frames(30_000, seed=5)
    binned = compare(ref, cur, exact=False)
    for name in ("same", "small", "big"):
        col = binned.column(name)
        exact = stats.ks_2samp(ref[name], cur[name]).statistic
        assert not col.ks_exact
        assert col.scores["ks"] <= exact + 1e-12
        assert exact - col.scores["ks"] <= col.ks_error_bound + 1e-12
    # the bound is the largest mass of one slot: about 1% where nothing shifted
    assert binned.column("same").ks_error_bound <= 0.02


def test_chi_squared_equals_scipy_on_the_same_table() -> None:
    ref, cur = frames(10_000, seed=7)
    result = compare(ref, cur)
    for name in ("colour", "flag"):
        table = pd.crosstab(np.r_[np.zeros(len(ref)), np.ones(len(cur))],
                            np.r_[ref[name].to_numpy(), cur[name].to_numpy()])
        want = stats.chi2_contingency(table.to_numpy())
        col = result.column(name)
        assert col.test == "chi2"
        assert col.scores["chi2"] == pytest.approx(want.statistic, rel=1e-9)
        assert col.p_value == pytest.approx(want.pvalue, rel=1e-9, abs=1e-300)
        assert (col.p_value < 0.05) == (want.pvalue < 0.05)


def test_jensen_shannon_equals_scipy_and_defaults_per_type() -> None:
    ref, cur = frames(10_000, seed=8)
    result = compare(ref, cur)
    col = result.column("colour")
    r = ref["colour"].value_counts().reindex(["red", "green", "blue"]).to_numpy()
    c = cur["colour"].value_counts().reindex(["red", "green", "blue"]).to_numpy()
    assert col.scores["jensenshannon"] == pytest.approx(jensenshannon(r, c, base=2), rel=1e-9)
    assert (col.effect, col.test) == ("jensenshannon", "chi2")
    numeric = result.column("big")
    assert (numeric.effect, numeric.test) == ("wasserstein", "ks")


def test_normed_wasserstein_is_close_to_scipy_on_raw_values() -> None:
    ref, cur = frames(50_000, seed=9)
    result = compare(ref, cur)
    for name in ("small", "big"):
        want = stats.wasserstein_distance(ref[name], cur[name]) / ref[name].std()
        assert result.column(name).scores["wasserstein"] == pytest.approx(want, rel=0.05,
                                                                           abs=0.005)


def test_a_column_drifts_only_with_both_a_small_p_value_and_a_large_effect() -> None:
    ref, cur = frames(100_000, seed=10)
    result = compare(ref, cur)
    small, big, same = (result.column(n) for n in ("small", "big", "same"))
    assert small.p_value < 1e-6 and small.effect_size < 0.1 and not small.drifted
    assert big.drifted and not same.drifted
    assert result.column("colour").drifted and not result.column("flag").drifted
    assert result.drifted_features == 2 and result.feature_count == 5
    assert result.share == pytest.approx(0.4) and not result.dataset_drift


def test_incremental_counts_equal_one_shot_counts() -> None:
    ref, cur = frames(5_000, seed=11)
    layout = Layout.from_profiles(build_profile(ref))
    whole = count_frame(layout, cur)
    running = CountVector.empty(layout)
    for chunk in np.array_split(np.arange(len(cur)), 7):
        running.add(count_frame(layout, cur.iloc[chunk]))
    rows = count_rows(layout, cur.to_dict(orient="records"), [None] * len(cur))
    for other in (running, rows):
        assert np.array_equal(whole.slots, other.slots)
        np.testing.assert_allclose(whole.sums, other.sums, rtol=1e-12)
        assert np.array_equal(whole.mins, other.mins) and np.array_equal(whole.maxs, other.maxs)
        assert other.n == whole.n == len(cur)
    restored = CountVector.from_bytes(layout, *whole.to_bytes(), whole.n)
    assert np.array_equal(restored.slots, whole.slots)
    one = score_counts(layout, whole).column("big").scores
    two = score_counts(layout, running).column("big").scores
    assert one == two


def test_unseen_categories_and_out_of_range_values_are_counted() -> None:
    ref = pd.DataFrame({"x": np.linspace(0, 1, 1000), "c": ["a", "b"] * 500})
    cur = pd.DataFrame({"x": [-5.0, -1.0, 0.5, 1.0, 2.0, np.nan, None],
                        "c": ["a", "zzz", "zzz", "b", None, "new", "a"]})
    result = compare(ref, cur, exact=False)
    x, c = result.column("x"), result.column("c")
    assert (x.below_range, x.above_range, x.missing_current, x.n_current) == (2, 1, 2, 5)
    assert (c.unseen, c.missing_current, c.n_current) == (3, 1, 6)
    rows = count_rows(result_layout := Layout.from_profiles(build_profile(ref)),
                      cur.to_dict(orient="records"), [None] * len(cur))
    assert np.array_equal(rows.slots, count_frame(result_layout, cur).slots)


def test_prediction_columns_are_profiled_and_judged() -> None:
    rng = np.random.default_rng(12)
    ref, cur = frames(5_000, seed=12)
    result = compare(ref, cur, reference_predictions=rng.random(5_000),
                     current_predictions=rng.random(5_000) ** 3)
    pred = result.column("prediction:prediction")
    assert pred.role == "prediction" and pred.drifted and result.prediction_drift


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="numeric_effect"):
        DriftOptions(numeric_effect="magic")
    with pytest.raises(InvalidArgumentError, match="alpha"):
        DriftOptions(alpha=2)
    with pytest.raises(InvalidArgumentError, match="no monitored column 'nope'"):
        compare(*frames(100)).column("nope")


def test_chi_squared_equals_scipy_on_random_tables() -> None:
    from modelplane.monitoring.drift import _chi2

    rng = np.random.default_rng(13)
    for trial in range(300):
        k = int(rng.integers(2, 30))  # two columns: Yates' correction
        n = int(rng.choice([5, 200, 100_000]))
        p = rng.dirichlet(np.ones(k))
        q = p if trial % 2 else rng.dirichlet(np.ones(k))
        r, c = rng.multinomial(n, p), rng.multinomial(int(n * rng.uniform(0.5, 2)) + 1, q)
        keep = (r + c) > 0
        if keep.sum() < 2:
            assert _chi2(r, c) == (None, None)
            continue
        want = stats.chi2_contingency(np.stack([r[keep], c[keep]]))
        statistic, p_value = _chi2(r, c)
        assert statistic == pytest.approx(want.statistic, rel=1e-12, abs=1e-300)
        assert p_value == pytest.approx(want.pvalue, rel=1e-12, abs=1e-300)
