"""Label metrics against scikit-learn on the same data."""

from __future__ import annotations

import numpy as np
import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.monitoring.performance import compute_metrics, read_output

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def test_binary_classification_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.4).astype(int)
    proba = np.clip(y * 0.3 + rng.random(2000) * 0.7, 0, 1)
    pred = (proba > 0.5).astype(int)
    outputs = [{"prediction": int(p), "probability": float(s)} for p, s in zip(pred, proba,
                                                                             strict=True)]
    task, m, used = compute_metrics(y.tolist(), outputs)
    assert (task, used) == ("classification", 2000)
    assert m["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(sklearn_metrics.precision_score(y, pred))
    assert m["recall"] == pytest.approx(sklearn_metrics.recall_score(y, pred))
    assert m["f1"] == pytest.approx(sklearn_metrics.f1_score(y, pred))
    assert m["roc_auc"] == pytest.approx(sklearn_metrics.roc_auc_score(y, proba))
    assert m["log_loss"] == pytest.approx(sklearn_metrics.log_loss(y, proba), rel=1e-9)


def test_multiclass_matches_scikit_learn_macro_averages() -> None:
    rng = np.random.default_rng(1)
    classes = ["cat", "dog", "eel"]
    y = rng.choice(classes, 1500)
    raw = rng.random((1500, 3)) + (y[:, None] == np.array(classes)) * 0.8
    proba = raw / raw.sum(axis=1, keepdims=True)
    pred = np.array(classes)[proba.argmax(axis=1)]
    outputs = [{"label": p, "probabilities": dict(zip(classes, row.tolist(), strict=True))}
               for p, row in zip(pred, proba, strict=True)]
    _, m, _ = compute_metrics(y.tolist(), outputs)
    assert m["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y, pred))
    for name, fn in (("precision", sklearn_metrics.precision_score),
                     ("recall", sklearn_metrics.recall_score), ("f1", sklearn_metrics.f1_score)):
        assert m[name] == pytest.approx(fn(y, pred, average="macro", zero_division=0))
    assert m["roc_auc"] == pytest.approx(sklearn_metrics.roc_auc_score(
        y, proba, multi_class="ovr", average="macro"))
    assert m["log_loss"] == pytest.approx(sklearn_metrics.log_loss(y, proba, labels=classes))


def test_regression_matches_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(10, 3, 1000)
    p = y + rng.normal(0, 1, 1000)
    task, m, _ = compute_metrics(y.tolist(), p.tolist())
    assert task == "regression"
    assert m["rmse"] == pytest.approx(np.sqrt(sklearn_metrics.mean_squared_error(y, p)))
    assert m["mae"] == pytest.approx(sklearn_metrics.mean_absolute_error(y, p))
    assert m["r2"] == pytest.approx(sklearn_metrics.r2_score(y, p))


def test_outputs_are_read_in_every_documented_shape() -> None:
    assert read_output(3) == (3, None)
    assert read_output([7]) == (7, None)
    assert read_output({"prediction": 1, "probability": 0.8}) == (1, 0.8)
    assert read_output({"y_hat": 2.5}) == (2.5, None)
    with pytest.raises(InvalidArgumentError, match="task"):
        compute_metrics([1], [1], task="ranking")
