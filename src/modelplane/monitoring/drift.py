"""Drift scores from binned counts, and from raw data with exact two-sample KS.

Scores per column (reference counts against current counts over the same fixed bins;
missing values are left out of every distribution and reported apart):

- ``psi``: population stability index over coarse bins (numeric: the fine quantile bins
  merged into ``psi_bins`` equal groups, plus below- and above-range; categorical: the
  categories plus ``other``), a share of 0 replaced by 0.0001 as Evidently does.
- ``ks`` / ``ks_p_value``: Kolmogorov-Smirnov. From bins it is the largest CDF gap at the
  bin edges: it never exceeds the exact statistic ``D`` on the raw values and falls short
  of it by at most the largest mass of one bin (reported as ``ks_error_bound``; about 1%
  with the default 100 quantile bins). The p-value uses the asymptotic distribution SciPy's
  ``ks_2samp`` uses for large samples (see :func:`ks_p_value`).
  :func:`~modelplane.monitoring.raw.compare` computes the exact ``D`` from raw values.
- ``wasserstein``: the 1-Wasserstein distance divided by the reference standard
  deviation (Evidently's "normed Wasserstein"), mass spread evenly inside each fine bin and
  out-of-range mass placed at the mean of the out-of-range values.
- ``jensenshannon``: Jensen-Shannon distance (base 2, between 0 and 1) over the coarse bins
  or categories.
- ``chi2`` / ``chi2_p_value``: Pearson's chi-squared test of the 2 x K table (reference,
  current) x (coarse bin or category), as ``scipy.stats.chi2_contingency`` computes it.

Defaults (:class:`DriftOptions`): a numeric column is tested with KS and measured with
the normed Wasserstein distance; a categorical or boolean column with chi-squared and the
Jensen-Shannon distance. A column drifts only when the p-value is below ``alpha`` (0.05)
AND the effect size is above its threshold (0.1 for both): on large samples every p-value
is tiny, so the effect size decides whether a shift matters. The dataset drifts when the
share of drifted feature columns reaches ``drift_share`` (0.5). Unseen categories (values
outside the reference's listed categories) and out-of-range numbers are counted and shown.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from modelplane.core.errors import InvalidArgumentError
from modelplane.monitoring.counts import CountVector
from modelplane.monitoring.ks import exact_ks, ks_p_value
from modelplane.monitoring.profiles import ColumnLayout, Layout

__all__ = ["ColumnDrift", "DriftOptions", "DriftResult", "exact_ks", "ks_p_value", "psi",
           "score_counts"]

NUMERIC_EFFECTS = ("wasserstein", "psi", "jensenshannon", "ks")
CATEGORICAL_EFFECTS = ("jensenshannon", "psi")
TESTS = ("ks", "chi2")
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class DriftOptions:
    """How columns are judged; every field is documented in the module docstring."""

    alpha: float = 0.05
    numeric_test: str = "ks"
    numeric_effect: str = "wasserstein"
    numeric_threshold: float = 0.1
    categorical_test: str = "chi2"
    categorical_effect: str = "jensenshannon"
    categorical_threshold: float = 0.1
    drift_share: float = 0.5
    psi_bins: int = 10

    def __post_init__(self) -> None:
        checks = [("numeric_test", self.numeric_test, TESTS),
                  ("numeric_effect", self.numeric_effect, NUMERIC_EFFECTS),
                  ("categorical_test", self.categorical_test, ("chi2",)),
                  ("categorical_effect", self.categorical_effect, CATEGORICAL_EFFECTS)]
        for name, value, allowed in checks:
            if value not in allowed:
                raise InvalidArgumentError(f"{name}: {value!r} is not one of "
                                           f"{', '.join(allowed)}", details={"field": name})
        if not 0 < self.alpha < 1 or not 0 < self.drift_share <= 1 or self.psi_bins < 1:
            raise InvalidArgumentError("drift options: alpha must be in (0, 1), drift_share "
                                       "in (0, 1] and psi_bins >= 1",
                                       details={"field": "options"})


@dataclass
class ColumnDrift:
    """The verdict on one column (``role`` feature or prediction)."""

    column: str
    role: str
    kind: str
    n_reference: int
    n_current: int
    test: str
    p_value: float | None
    effect: str
    effect_size: float | None
    threshold: float
    drifted: bool
    scores: dict[str, float | None]
    below_range: int = 0
    above_range: int = 0
    unseen: int = 0
    missing_reference: int = 0
    missing_current: int = 0
    ks_exact: bool = False
    ks_error_bound: float | None = None
    histogram: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftResult:
    """Every column's verdict; ``share`` is the share of drifted feature columns."""

    columns: list[ColumnDrift]
    n_reference: int
    n_current: int
    drifted_features: int
    feature_count: int
    share: float
    dataset_drift: bool
    prediction_drift: bool
    options: DriftOptions

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == name or (f"prediction:{c.column}" == name and c.role == "prediction"):
                return c
        raise InvalidArgumentError(f"no monitored column {name!r}; the reference has "
                                   f"{', '.join(c.column for c in self.columns) or 'none'}",
                                   details={"field": "column", "column": name})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["columns"] = [c.to_dict() for c in self.columns]
        return out


# -- scores on binned shares ---------------------------------------------------------------


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two count vectors over the same bins (shares of 0 become 0.0001)."""
    r = reference / reference.sum()
    c = current / current.sum()
    r = np.where(r == 0, PSI_FLOOR, r)
    c = np.where(c == 0, PSI_FLOOR, c)
    return float(np.sum((r - c) * np.log(r / c)))


def _jensenshannon(r: np.ndarray, c: np.ndarray) -> float:
    p, q = r / r.sum(), c / c.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(math.sqrt(max((kl_p + kl_q) / 2, 0.0)))


def _chi2(r: np.ndarray, c: np.ndarray) -> tuple[float | None, float | None]:
    """``scipy.stats.chi2_contingency`` of the 2 x K table (categories seen on either
    side), computed as it does (Yates' correction at one degree of freedom, the same
    sums in the same order) without its ~0.2 ms of argument handling per call."""
    from scipy.special import chdtrc

    keep = (r + c) > 0
    if keep.sum() < 2:
        return None, None
    observed = np.stack([r[keep], c[keep]]).astype(np.float64)
    expected = (observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True)
                / observed.sum())
    if not expected.all():  # a side with no values: let SciPy say what is wrong
        from scipy.stats import chi2_contingency

        result = chi2_contingency(observed)
        return float(result.statistic), float(result.pvalue)
    dof = observed.shape[1] - 1
    if dof == 1:
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    statistic = ((observed - expected) ** 2 / expected).ravel().sum()
    return float(statistic), float(chdtrc(float(dof), statistic))


def _coarse(col: ColumnLayout, main: np.ndarray, groups: int) -> np.ndarray:
    """Numeric slots ``[below, bins..., above]`` with the fine bins merged into ``groups``."""
    bins = col.bins
    if bins <= groups or bins % groups:
        return main
    inner = main[1:-1].reshape(groups, bins // groups).sum(axis=1)
    return np.concatenate([main[:1], inner, main[-1:]])


def _segments_integral(breaks: list[tuple[float, float]], end: float) -> float:
    """∫|g| where ``g`` is piecewise constant: ``breaks`` are sorted (x, value from x on)."""
    total = 0.0
    for (x, value), nxt in zip(breaks, [*[b[0] for b in breaks[1:]], end], strict=True):
        total += abs(value) * max(nxt - x, 0.0)
    return total


def _wasserstein(col: ColumnLayout, r: np.ndarray, c: np.ndarray,
                 r_sums: np.ndarray, c_sums: np.ndarray) -> float:
    """W1 between two binned distributions (see the module docstring), unnormalised."""
    edges = np.asarray(col.edges)
    pr, pc = r / r.sum(), c / c.sum()
    # below range: each side's mass is an atom at the mean of its below-range values
    atoms = []
    for p, counts, sums, sign in ((pr, r, r_sums, -1.0), (pc, c, c_sums, 1.0)):
        if counts[0]:
            atoms.append((min(sums[2] / counts[0], edges[0]), sign * p[0]))
    below = 0.0
    if atoms:
        atoms.sort()
        running, breaks = 0.0, []
        for x, delta in atoms:
            running += delta
            breaks.append((x, running))
        below = _segments_integral(breaks, edges[0])
    # inside: CDFs linear within each bin
    fr = pr[0] + np.concatenate([[0.0], np.cumsum(pr[1:-1])])
    fc = pc[0] + np.concatenate([[0.0], np.cumsum(pc[1:-1])])
    d = fc - fr
    a, b, w = d[:-1], d[1:], np.diff(edges)
    same = a * b >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(same, 0.0, (a * a + b * b) / (2 * (np.abs(a) + np.abs(b))))
    inside = float(np.sum(w * np.where(same, (np.abs(a) + np.abs(b)) / 2, crossing)))
    # above range: atoms at the mean of the above-range values
    atoms = []
    for p, counts, sums, sign in ((pr, r, r_sums, -1.0), (pc, c, c_sums, 1.0)):
        if counts[-1]:
            atoms.append((max(sums[3] / counts[-1], edges[-1]), sign * p[-1]))
    above = 0.0
    if atoms:
        atoms.sort()
        # from edges[-1] up to each atom the side still lacks that atom's mass
        running = sum(delta for _, delta in atoms)
        breaks = [(float(edges[-1]), running)]
        for x, delta in atoms:
            running -= delta
            breaks.append((x, running))
        above = _segments_integral(breaks, breaks[-1][0])
    return below + inside + above


# -- one column ------------------------------------------------------------------------------


def _numeric(col: ColumnLayout, r: np.ndarray, c: np.ndarray, r_sums: np.ndarray,
             c_sums: np.ndarray, options: DriftOptions, ks_p: bool = True) -> dict[str, Any]:
    main_r, main_c = r[:-1].astype(np.float64), c[:-1].astype(np.float64)
    nr, nc = main_r.sum(), main_c.sum()
    pr, pc = main_r / nr, main_c / nc
    gap = np.abs(np.cumsum(pr) - np.cumsum(pc))
    d = float(gap.max())
    coarse_r = _coarse(col, main_r, options.psi_bins)
    coarse_c = _coarse(col, main_c, options.psi_bins)
    chi2, chi2_p = _chi2(coarse_r, coarse_c)
    scale = col.std if col.std else 1.0
    scores = {
        "psi": psi(coarse_r, coarse_c), "ks": d,
        "ks_p_value": ks_p_value(d, nr, nc, options.alpha) if ks_p else None,
        "wasserstein": _wasserstein(col, main_r, main_c, r_sums, c_sums) / scale,
        "jensenshannon": _jensenshannon(coarse_r, coarse_c), "chi2": chi2,
        "chi2_p_value": chi2_p}
    labels = _coarse_labels(col, coarse_r.size)
    return {"scores": scores, "below_range": int(c[0]), "above_range": int(c[-2]),
            "ks_error_bound": float(np.maximum(pr, pc).max()),
            "histogram": {"labels": labels, "reference": (coarse_r / nr).tolist(),
                          "current": (coarse_c / nc).tolist()}}


def _coarse_labels(col: ColumnLayout, size: int) -> list[str]:
    edges = col.edges
    step = col.bins // (size - 2) if size - 2 else 1
    cuts = [edges[i * step] for i in range(size - 1)]
    return [f"< {edges[0]:.4g}",
            *(f"{lo:.4g} - {hi:.4g}" for lo, hi in itertools.pairwise(cuts)),
            f"> {edges[-1]:.4g}"]


def _categorical(col: ColumnLayout, r: np.ndarray, c: np.ndarray) -> dict[str, Any]:
    main_r, main_c = r[:-1].astype(np.float64), c[:-1].astype(np.float64)
    chi2, chi2_p = _chi2(main_r, main_c)
    scores = {"psi": psi(main_r, main_c), "jensenshannon": _jensenshannon(main_r, main_c),
              "chi2": chi2, "chi2_p_value": chi2_p}
    top = np.argsort(-(main_r[:-1] + main_c[:-1]), kind="stable")[:20]
    labels = [str(col.categories[i]) for i in top] + ["(other)"]
    rest_r, rest_c = main_r.sum() - main_r[top].sum(), main_c.sum() - main_c[top].sum()
    return {"scores": scores, "unseen": int(c[-2]),
            "histogram": {"labels": labels,
                          "reference": [*(main_r[top] / main_r.sum()).tolist(),
                                        rest_r / main_r.sum()],
                          "current": [*(main_c[top] / main_c.sum()).tolist(),
                                      rest_c / main_c.sum()]}}


def _column(col: ColumnLayout, ref: CountVector, cur: CountVector,
            options: DriftOptions, exact: dict[str, tuple[float, float]]) -> ColumnDrift:
    r, c = ref.column(col), cur.column(col)
    numeric = col.kind == "numeric"
    test = options.numeric_test if numeric else options.categorical_test
    effect = options.numeric_effect if numeric else options.categorical_effect
    threshold = options.numeric_threshold if numeric else options.categorical_threshold
    out = ColumnDrift(column=col.name, role=col.role, kind=col.kind,
                      n_reference=int(r[:-1].sum()), n_current=int(c[:-1].sum()), test=test,
                      p_value=None, effect=effect, effect_size=None, threshold=threshold,
                      drifted=False, scores={}, missing_reference=int(r[-1]),
                      missing_current=int(c[-1]))
    if out.n_reference == 0 or out.n_current == 0:
        return out
    if numeric:
        i = col.numeric_index
        details = _numeric(col, r, c, ref.sums[i], cur.sums[i], options,
                           ks_p=col.key not in exact)
    else:
        details = _categorical(col, r, c)
    scores = details.pop("scores")
    if col.key in exact:
        scores["ks"], scores["ks_p_value"] = exact[col.key]
        out.ks_exact, details["ks_error_bound"] = True, 0.0
    for key, value in details.items():
        setattr(out, key, value)
    out.scores = scores
    out.p_value = scores.get(f"{test}_p_value")
    out.effect_size = scores.get(effect)
    out.drifted = bool(out.p_value is not None and out.p_value < options.alpha
                       and out.effect_size is not None and out.effect_size > threshold)
    return out


def score_counts(layout: Layout, current: CountVector, *, reference: CountVector | None = None,
                 options: DriftOptions | None = None,
                 exact: dict[str, tuple[float, float]] | None = None) -> DriftResult:
    """Judge every column of ``layout``: ``current`` against ``reference`` (default: the
    layout's own reference counts). ``exact`` maps a column key to an exact (D, p) pair."""
    options = options or DriftOptions()
    if reference is None:
        reference = CountVector.empty(layout)
        reference.slots = layout.reference_vector()
    columns = [_column(c, reference, current, options, exact or {}) for c in layout.columns]
    features = [c for c in columns if c.role == "feature" and c.n_current and c.n_reference]
    drifted = sum(c.drifted for c in features)
    share = drifted / len(features) if features else 0.0
    return DriftResult(
        columns=columns, n_reference=reference.n or _rows(layout), n_current=current.n,
        drifted_features=drifted, feature_count=len(features), share=share,
        dataset_drift=bool(features) and share >= options.drift_share,
        prediction_drift=any(c.drifted for c in columns if c.role == "prediction"),
        options=options)


def _rows(layout: Layout) -> int:
    first = layout.columns[0] if layout.columns else None
    return int(sum(first.reference)) if first else 0
