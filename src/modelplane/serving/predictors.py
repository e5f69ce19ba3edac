"""How a served model runs a batch: concatenate prepared inputs, predict once, split.

:class:`Predictor` wraps a :class:`~modelplane.flavors.LoadedModel` and returns
``(predictions, probabilities or None)`` for a prepared input, computing both in one
model call where the model allows it:

- scikit-learn forests of trees (RandomForest, ExtraTrees classifiers): the forest's own
  ``predict_proba`` pays about 2 ms per call in joblib dispatch and input checks, for any
  number of rows. The fast path sums the trees' outputs directly, exactly as the forest
  does (same order, same float64 accumulation), and takes labels as the forest does
  (``classes_[argmax]``). Inputs with NaN or infinity go to the forest itself, which
  checks them. Used only when it matches the forest bit for bit on the input example;
- ONNX graphs with a label and a probabilities output: one ``session.run`` for both;
- anything else: ``predict`` (and ``predict_proba`` where the flavor has it).

Loaded estimators are set to ``n_jobs=1``: the server runs requests side by side and
batches them, so a thread pool per call would only oversubscribe the cores.
``check_batching`` runs the example at warm-up and turns batching off for a model whose
output is not one row per input row.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from modelplane.flavors import LoadedModel

__all__ = ["Output", "Predictor", "pool_batch", "pool_init"]

#: ``(predictions, probabilities or None)`` for the rows of one input.
Output = tuple[Any, Any]


def _as_rows(value: Any) -> Any:
    if value is None:
        return None
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    return array.reshape(1) if array.ndim == 0 else array


def count_rows(prepared: Any) -> int:
    """Rows in a prepared input (ndarray, DataFrame, dict of columns, records)."""
    if isinstance(prepared, np.ndarray):
        return int(prepared.shape[0]) if prepared.ndim else 1
    if isinstance(prepared, dict):
        first = next(iter(prepared.values()), None)
        return 1 if first is None or np.ndim(first) == 0 else len(first)
    if hasattr(prepared, "__len__"):
        return len(prepared)
    return 1


def concat(items: list[Any]) -> Any:
    """One prepared input holding ``items`` one after the other."""
    if len(items) == 1:
        return items[0]
    first = items[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(items)
    if isinstance(first, dict):
        return {k: np.concatenate([item[k] for item in items]) for k in first}
    if isinstance(first, list):
        return [row for item in items for row in item]
    if type(first).__module__.startswith("pandas"):
        import pandas as pd

        return pd.concat(items, ignore_index=True)
    raise TypeError(f"cannot batch inputs of type {type(first).__name__}")


def _estimators(obj: Any, depth: int = 0) -> list[Any]:
    """``obj`` and the estimators it holds (pipeline steps, meta-estimator parts)."""
    if obj is None or depth > 4:
        return []
    found = [obj]
    for step in getattr(obj, "steps", None) or []:
        found += _estimators(step[1] if isinstance(step, tuple) else step, depth + 1)
    for name in ("estimator", "base_estimator", "final_estimator_"):
        inner = getattr(obj, name, None)
        if inner is not None and hasattr(inner, "get_params"):
            found += _estimators(inner, depth + 1)
    return found


def single_threaded(model: LoadedModel) -> None:
    """Set ``n_jobs=1`` on every estimator the model runs (see the module docstring)."""
    owners = [model.raw, *(getattr(fn, "__self__", None) for fn in _bound(model))]
    for owner in owners:
        for estimator in _estimators(owner):
            if "n_jobs" in getattr(estimator, "__dict__", {}):
                estimator.n_jobs = 1


def _bound(model: LoadedModel) -> list[Any]:
    # LoadedModel keeps the flavor's predict functions private; for scikit-learn they are
    # bound methods of the estimator actually run (a feature-name-free copy, sometimes).
    return [getattr(model, "_predict", None), getattr(model, "_proba", None)]


def _forest_fast_path(model: LoadedModel) -> Callable[[Any], Output] | None:
    forest_module = sys.modules.get("sklearn.ensemble._forest")
    estimator = getattr(getattr(model, "_proba", None), "__self__", None)
    if forest_module is None or not isinstance(estimator, forest_module.ForestClassifier):
        return None
    trees = list(getattr(estimator, "estimators_", []))
    if getattr(estimator, "n_outputs_", 0) != 1 or not trees:
        return None
    if not all(hasattr(t, "tree_") for t in trees):
        return None
    n_classes, classes = int(estimator.n_classes_), estimator.classes_
    forest_proba = estimator.predict_proba
    tree_predicts = [t.tree_.predict for t in trees]
    scale = float(len(trees))

    def run(prepared: Any) -> Output:
        if not isinstance(prepared, np.ndarray) or prepared.ndim != 2:
            proba = forest_proba(prepared)
        else:
            x = np.ascontiguousarray(prepared, dtype=np.float32)
            if not np.isfinite(x).all():
                proba = forest_proba(prepared)
            else:
                proba = np.zeros((x.shape[0], n_classes), dtype=np.float64)
                for predict in tree_predicts:
                    proba += predict(x)[:, :n_classes]
                proba /= scale
        return classes.take(np.argmax(proba, axis=1), axis=0), proba

    return run


def _onnx_fused(model: LoadedModel) -> Callable[[Any], Output] | None:
    if model.flavor != "onnx" or not model.has_proba:
        return None
    extra, sess = model.meta.extra, model.raw
    label, proba = extra.get("label_output"), extra.get("proba_output")
    graph = extra.get("graph_inputs") or []
    if not label or not proba or len(graph) != 1 or extra.get("feed") not in ("stack", "tensor"):
        return None
    names, input_name, squeeze = [label, proba], graph[0]["name"], bool(extra.get("squeeze"))

    def run(prepared: Any) -> Output:
        labels, probabilities = sess.run(names, {input_name: prepared})
        return (labels.reshape(-1) if squeeze else labels), probabilities

    return run


def _equal(a: Output, b: Output) -> bool:
    try:
        same = np.array_equal(_as_rows(a[0]), _as_rows(b[0]))
        if a[1] is None or b[1] is None:
            return same and a[1] is None and b[1] is None
        return same and np.array_equal(_as_rows(a[1]), _as_rows(b[1]))
    except Exception:  # outputs that cannot even be compared are not equal
        return False


class Predictor:
    """Runs one loaded model on prepared inputs; ``batch`` is the batcher's function."""

    def __init__(self, model: LoadedModel, *, fast_paths: bool = True) -> None:
        self.model = model
        self.batchable = True
        self.fast_path: str | None = None
        single_threaded(model)
        self._plain = self._plain_run
        self._run: Callable[[Any], Output] = self._plain
        if fast_paths:
            for name, build in (("forest", _forest_fast_path), ("onnx", _onnx_fused)):
                candidate = build(model)
                if candidate is not None:
                    self._run, self.fast_path = candidate, name
                    break

    def _plain_run(self, prepared: Any) -> Output:
        model = self.model
        predictions = model.predict_prepared(prepared)
        proba = model.predict_proba_prepared(prepared) if model.has_proba else None
        return predictions, proba

    def run(self, prepared: Any) -> Output:
        predictions, proba = self._run(prepared)
        return _as_rows(predictions), _as_rows(proba)

    def batch(self, items: list[Any]) -> list[Output]:
        """Predict ``items`` (prepared inputs) in one call; one output per item."""
        if len(items) == 1 or not self.batchable:
            return [self.run(item) for item in items]
        sizes = [count_rows(item) for item in items]
        predictions, proba = self.run(concat(items))
        total = sum(sizes)
        if len(predictions) != total or (proba is not None and len(proba) != total):
            raise ValueError(f"the model returned {len(predictions)} rows for {total}")
        out: list[Output] = []
        start = 0
        for size in sizes:
            end = start + size
            out.append((predictions[start:end], None if proba is None else proba[start:end]))
            start = end
        return out

    def check(self, prepared: Any) -> None:
        """At warm-up: keep a fast path only where it matches the plain path on
        ``prepared``, and batch only a model that answers one row per input row."""
        if self.fast_path is not None:
            try:
                agrees = _equal(self._run(prepared), self._plain(prepared))
            except Exception:
                agrees = False
            if not agrees:
                self._run, self.fast_path = self._plain, None
        rows = count_rows(prepared)
        try:
            predictions, proba = self.run(concat([prepared, prepared]))
            self.batchable = len(predictions) == 2 * rows and (
                proba is None or len(proba) == 2 * rows)
        except Exception:
            self.batchable = False


# -- process pool: the model lives in each worker process -------------------------------
_POOL: Predictor | None = None


def pool_init(path: str, options: dict[str, Any], fast_paths: bool) -> None:
    """Process-pool initializer: load the model once in this worker."""
    global _POOL
    from modelplane.flavors import load_model

    _POOL = Predictor(load_model(path, **options), fast_paths=fast_paths)


def pool_batch(items: list[Any]) -> list[Output]:
    if _POOL is None:
        raise RuntimeError("the model process pool was not initialised")
    return _POOL.batch(items)
