"""Model quality from delayed labels joined to logged predictions (NumPy only).

Classification: accuracy, precision, recall, F1 (binary for labels in {0, 1}, {-1, 1} or
{False, True} with the positive class 1; otherwise macro-averaged over every class seen,
with 0 for an undefined ratio, as scikit-learn's ``zero_division=0``), ROC AUC and log
loss when the output carries probabilities. Regression: RMSE, MAE, R2.

How an output is read (:func:`read_output`): a scalar is the prediction; a dict takes
the prediction from ``prediction``/``label``/``class``/``value``/``output`` (or its only
entry) and probabilities from ``probability``/``proba``/``probabilities``/``score`` (a
number is the positive class's probability, a list is per class in sorted class order, a
dict maps class to probability); a one-element list is its element.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from modelplane.core.errors import InvalidArgumentError

__all__ = ["CLASSIFICATION_METRICS", "REGRESSION_METRICS", "PerformanceReport",
           "VersionPerformance", "compute_metrics", "read_output"]

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
TASKS = ("classification", "regression")
_PREDICTION_KEYS = ("prediction", "predictions", "label", "class", "value", "output", "y")
_PROBA_KEYS = ("probability", "probabilities", "proba", "score", "scores")
_BINARY_SETS = ({0, 1}, {-1, 1})


def read_output(outputs: Any) -> tuple[Any, Any]:
    """``(prediction, probabilities or None)`` from a logged output."""
    if isinstance(outputs, Mapping):
        proba = next((outputs[k] for k in _PROBA_KEYS if k in outputs), None)
        pred = next((outputs[k] for k in _PREDICTION_KEYS if k in outputs), None)
        if pred is None and len(outputs) == 1:
            pred = next(iter(outputs.values()))
        return pred, proba
    if isinstance(outputs, list | tuple) and len(outputs) == 1:
        return outputs[0], None
    return outputs, None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def infer_task(labels: Sequence[Any], predictions: Sequence[Any]) -> str:
    """``regression`` when labels and predictions are numbers and some is not integral."""
    values = [*labels, *predictions]
    if all(_is_number(v) for v in values) and any(
            isinstance(v, float) and not float(v).is_integer() for v in values):
        return "regression"
    return "classification"


def _norm(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _prf(y: list[Any], p: list[Any], classes: list[Any], positive: Any | None
         ) -> tuple[float, float, float]:
    y_arr, p_arr = np.array(y, dtype=object), np.array(p, dtype=object)

    def one(c: Any) -> tuple[float, float, float]:
        tp = float(np.sum((p_arr == c) & (y_arr == c)))
        prec = _ratio(tp, float(np.sum(p_arr == c)))
        rec = _ratio(tp, float(np.sum(y_arr == c)))
        return prec, rec, _ratio(2 * prec * rec, prec + rec)

    if positive is not None:
        return one(positive)
    parts = np.array([one(c) for c in classes])
    return tuple(float(x) for x in parts.mean(axis=0))  # type: ignore[return-value]


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Binary ROC AUC (Mann-Whitney U with average ranks for ties)."""
    from scipy.stats import rankdata

    pos = int(y.sum())
    neg = y.size - pos
    if pos == 0 or neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _proba_matrix(probas: list[Any], classes: list[Any]) -> np.ndarray | None:
    """Per-row probabilities in ``classes`` order, or None when some row lacks them."""
    rows = []
    for pr in probas:
        if isinstance(pr, Mapping):
            rows.append([float(pr.get(c, pr.get(str(c), 0.0))) for c in classes])
        elif isinstance(pr, list | tuple) and len(pr) == len(classes):
            rows.append([float(x) for x in pr])
        elif _is_number(pr) and len(classes) == 2:
            rows.append([1.0 - float(pr), float(pr)])
        else:
            return None
    return np.array(rows, np.float64)


def _classification(y: list[Any], p: list[Any], probas: list[Any]) -> dict[str, float | None]:
    classes = sorted(set(y) | set(p), key=lambda v: (str(type(v)), v))
    binary = len(classes) <= 2 and any(set(classes) <= s for s in _BINARY_SETS)
    positive = 1 if binary else None
    precision, recall, f1 = _prf(y, p, classes, positive)
    out: dict[str, float | None] = {
        "accuracy": float(np.mean([a == b for a, b in zip(y, p, strict=True)])),
        "precision": precision, "recall": recall, "f1": f1, "roc_auc": None, "log_loss": None}
    proba_classes = [-1 if -1 in classes else 0, 1] if binary else classes
    matrix = _proba_matrix(probas, proba_classes) if all(x is not None for x in probas) else None
    if matrix is None:
        return out
    index = {c: i for i, c in enumerate(proba_classes)}
    if any(v not in index for v in y):
        return out
    truth = np.array([index[v] for v in y])
    clipped = np.clip(matrix, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    out["log_loss"] = float(-np.mean(np.log(clipped[np.arange(truth.size), truth])))
    if len(proba_classes) == 2:
        out["roc_auc"] = _auc((truth == 1).astype(np.int64), matrix[:, 1])
    else:
        aucs = [_auc((truth == i).astype(np.int64), matrix[:, i])
                for i in sorted(set(truth.tolist()))]
        known = [a for a in aucs if a is not None]
        out["roc_auc"] = float(np.mean(known)) if len(known) == len(aucs) else None
    return out


def _regression(y: list[Any], p: list[Any]) -> dict[str, float | None]:
    yt, yp = np.asarray(y, np.float64), np.asarray(p, np.float64)
    err = yp - yt
    ss_tot = float(np.sum((yt - yt.mean()) ** 2))
    return {"rmse": float(math.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.sum(err ** 2)) / ss_tot if ss_tot > 0 else None}


def compute_metrics(labels: Sequence[Any], outputs: Sequence[Any], *,
                    task: str | None = None) -> tuple[str, dict[str, float | None], int]:
    """``(task, metrics, rows used)`` for labels and the matching logged outputs. Rows
    whose prediction cannot be read (None, a list) are skipped."""
    if task is not None and task not in TASKS:
        raise InvalidArgumentError(f"task: {task!r} is not one of {', '.join(TASKS)}",
                                   details={"field": "task"})
    y, p, probas = [], [], []
    for label, output in zip(labels, outputs, strict=True):
        pred, proba = read_output(output)
        if label is None or pred is None or isinstance(pred, list | dict):
            continue
        y.append(_norm(label))
        p.append(_norm(pred))
        probas.append(proba)
    if not y:
        return task or "classification", {}, 0
    task = task or infer_task(y, p)
    if task == "regression":
        if not all(_is_number(v) for v in [*y, *p]):
            raise InvalidArgumentError("task regression needs numeric labels and predictions",
                                       details={"field": "task"})
        return task, _regression(y, p), len(y)
    return task, _classification(y, p, probas), len(y)


@dataclass
class VersionPerformance:
    version: int | None
    task: str
    predictions: int
    labelled: int
    metrics: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PerformanceReport:
    model: str
    window: str
    overall: VersionPerformance
    versions: list[VersionPerformance]

    def metric(self, name: str, version: int | None = None) -> float | None:
        perf = self.overall if version is None else next(
            (v for v in self.versions if v.version == version), None)
        return None if perf is None else perf.metrics.get(name)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "window": self.window, "overall": self.overall.to_dict(),
                "versions": [v.to_dict() for v in self.versions]}
