"""The scikit-learn flavor, and the fast predict path shared with the XGBoost and
LightGBM scikit-learn wrappers.

Saved with skops as ``model.skops``, loaded with only allow-listed types (see
``pickles``). What skops cannot represent safely (a lambda in a ``FunctionTransformer``,
a class of the user's own) is saved as ``model.pkl`` (pickle protocol 5; cloudpickle when
plain pickle refuses), marked ``pickled``, and loads only with ``allow_pickle=True``.

Fast predict: an estimator fitted on a DataFrame warns (and pays about 0.7 ms) when it
gets a numpy array. At load, when every input is numeric, a private shallow copy that
skips the feature-name check is probed on the input example: if no estimator that sees
the raw input still checks feature names (so no request can warn) and it predicts the
same as the original fed a DataFrame, requests are fed to it as one float array (columns
are already put in signature order by ``InputAdapter``). Otherwise, and for pipelines
that select columns by name, requests are fed as a DataFrame. Nothing process-wide (the
warnings filter, global config) is touched, so many threads may load and predict at once.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.flavors.base import LoadedModel, ModelMeta, check_options, example_to_json
from modelplane.flavors.pickles import (
    SKOPS_FILE,
    TRUSTED_PREFIXES,
    dump_pickle,
    dump_skops,
    load_pickle,
    load_skops,
)
from modelplane.flavors.signature import ColumnSpec, Signature, dtype_name, infer_signature

if TYPE_CHECKING:
    from modelplane.flavors.inputs import Target

__all__ = [
    "NAME",
    "accepts",
    "build_loaded",
    "estimator_signature",
    "feature_signature",
    "load",
    "load_estimator",
    "save",
    "save_estimator",
    "sklearn_like_meta",
]

NAME = "sklearn"
MODEL_FILE = "model.pkl"


def accepts(model: Any) -> bool:
    import sys

    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(model, base.BaseEstimator)


def feature_signature(
    names: list[str] | None, n_features: int | None, input_example: Any
) -> list[ColumnSpec] | None:
    """Inputs from the example, reconciled with the fitted feature names when known.

    An unnamed (ndarray) example takes the fitted names; a named example keeps only the
    fitted columns, in fitted order, so columns the model never saw are not required.
    """
    if input_example is not None:
        inputs = infer_signature(input_example).inputs
        if not names:
            return inputs
        shape = inputs[0].shape if len(inputs) == 1 else None
        if shape is not None and len(shape) == 2 and shape[1] == len(names):
            return [ColumnSpec(n, inputs[0].dtype) for n in names]
        by_name = {s.name: s for s in inputs}
        if all(n in by_name for n in names):
            return [by_name[n] for n in names]
        return inputs
    if names:
        return [ColumnSpec(n, "float64") for n in names]
    if n_features:
        return [ColumnSpec("input", "float64", (-1, n_features))]
    return None


def estimator_signature(model: Any, input_example: Any) -> Signature | None:
    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    n_features = getattr(model, "n_features_in_", None)
    inputs = feature_signature(
        names, n_features if isinstance(n_features, int) else None, input_example
    )
    return None if inputs is None else Signature(inputs=inputs, outputs=_outputs(model))


def _classes(model: Any) -> list[Any] | None:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    if isinstance(classes, list):  # multi-output classifiers hold one array per output
        return [c.tolist() for c in classes]
    return list(classes.tolist())


def _outputs(model: Any) -> list[ColumnSpec]:
    classes = getattr(model, "classes_", None)
    if classes is None or isinstance(classes, list):
        return [ColumnSpec("prediction", "float64", (-1,))]
    outputs = [ColumnSpec("label", dtype_name(classes.dtype), (-1,))]
    if hasattr(model, "predict_proba"):
        outputs.append(ColumnSpec("probabilities", "float64", (-1, len(classes))))
    return outputs


def sklearn_like_meta(
    flavor: str, model: Any, input_example: Any, version: str, extra: dict[str, Any]
) -> ModelMeta:
    example, kind = example_to_json(input_example)
    named = getattr(model, "feature_names_in_", None) is not None
    return ModelMeta(
        flavor=flavor,
        signature=estimator_signature(model, input_example),
        has_proba=hasattr(model, "predict_proba"),
        classes=_classes(model),
        input_example=example,
        extra={"input_mode": "dataframe" if named else "ndarray", "input_kind": kind, **extra},
        library_version=version,
    )


def save_estimator(model: Any, path: Path, prefixes: tuple[str, ...] = TRUSTED_PREFIXES) -> bool:
    """Write ``model.skops``, or ``model.pkl`` when skops cannot; True when pickled."""
    if dump_skops(model, path / SKOPS_FILE, prefixes):
        return False
    dump_pickle(model, path / MODEL_FILE)
    return True


def load_estimator(
    path: Path, allow_pickle: bool, prefixes: tuple[str, ...] = TRUSTED_PREFIXES
) -> Any:
    """Read what ``save_estimator`` wrote (decided by the file present, not the descriptor)."""
    if (path / SKOPS_FILE).is_file():
        return load_skops(path / SKOPS_FILE, allow_pickle, prefixes)
    return load_pickle(path / MODEL_FILE, allow_pickle)


def save(model: Any, path: Path, input_example: Any, options: Mapping[str, Any]) -> ModelMeta:
    import sklearn

    check_options(NAME, options, set())
    pickled = save_estimator(model, path)
    extra = {"estimator": f"{type(model).__module__}.{type(model).__qualname__}"}
    meta = sklearn_like_meta(NAME, model, input_example, sklearn.__version__, extra)
    meta.pickled = pickled
    return meta


def load(
    path: Path, meta: ModelMeta, options: Mapping[str, Any], allow_pickle: bool = False
) -> LoadedModel:
    check_options(NAME, options, set())
    return build_loaded(load_estimator(path, allow_pickle), meta)


def _without_feature_names(model: Any) -> Any:
    """A shallow copy of ``model`` that does not check feature names."""
    fast = copy.copy(model)
    if "feature_names_in_" in vars(fast):
        del fast.feature_names_in_
    if getattr(fast, "feature_names_in_", None) is not None:  # a property (LightGBM)
        cls = type(fast)
        namespace = {"feature_names_in_": None, "__module__": cls.__module__}
        fast.__class__ = type(cls.__name__, (cls,), namespace)
    return fast


def _estimators(obj: Any, seen: set[int], depth: int = 0) -> Iterator[Any]:
    """Every scikit-learn estimator reachable from ``obj`` through attributes and
    lists, tuples or dicts of them (fitted sub-estimators included)."""
    import sklearn.base

    if id(obj) in seen or depth > 12:
        return
    seen.add(id(obj))
    if isinstance(obj, sklearn.base.BaseEstimator):
        yield obj
        children: Any = vars(obj).values()
    elif isinstance(obj, list | tuple):
        children = obj
    elif isinstance(obj, dict):
        children = obj.values()
    else:
        return
    for child in children:
        if isinstance(child, sklearn.base.BaseEstimator | list | tuple | dict):
            yield from _estimators(child, seen, depth + 1)


def _checks_names(model: Any) -> bool:
    """Whether predicting ``model`` on an array could warn about feature names."""
    return any(
        getattr(e, "feature_names_in_", None) is not None for e in _estimators(model, set())
    )


def _array_candidate(model: Any) -> Any | None:
    """``model`` itself, or a copy that skips its own name check, when no estimator that
    would see the array still checks names; else None (fed DataFrames)."""
    if not _checks_names(model):
        return model
    stripped = _without_feature_names(model)
    steps = getattr(stripped, "steps", None)
    if isinstance(steps, list) and steps and not isinstance(steps[0][1], str | type(None)):
        stripped.steps = [(steps[0][0], _without_feature_names(steps[0][1])), *steps[1:]]
    return None if _checks_names(stripped) else stripped


def _probe_example(signature: Signature, example: Any) -> Any:
    if example is not None:
        return example
    return {s.name: 0 for s in signature.inputs}


def _fast_predictor(model: Any, meta: ModelMeta) -> Any | None:
    """A predictor fed float arrays that agrees with ``model`` fed DataFrames, or None."""
    import numpy as np

    from modelplane.flavors.inputs import InputAdapter

    signature = meta.signature
    if signature is None or signature.is_tensor:
        return None
    if any(
        s.shape is not None or s.dtype in ("string",) or "datetime" in s.dtype
        for s in signature.inputs
    ):
        return None
    example = _probe_example(signature, meta.input_example)
    try:
        candidate = _array_candidate(model)
        if candidate is None:
            return None
        frame = InputAdapter(signature, "dataframe").prepare(example)
        array = InputAdapter(signature, "ndarray").prepare(example)
        if np.array_equal(candidate.predict(array), model.predict(frame)):
            return candidate
    except Exception:  # a candidate that fails is simply not used
        return None
    return None


def build_loaded(model: Any, meta: ModelMeta) -> LoadedModel:
    """A ``LoadedModel`` over an estimator with the scikit-learn predict API."""
    from modelplane.flavors.inputs import InputAdapter

    predictor = model
    target: Target = "ndarray"
    if meta.extra.get("input_mode") == "dataframe":
        fast = _fast_predictor(model, meta)
        if fast is None:
            target = "dataframe"
        else:
            predictor = fast
    adapter = InputAdapter(meta.signature, target)
    proba = predictor.predict_proba if hasattr(predictor, "predict_proba") else None
    return LoadedModel(meta, model, adapter, predictor.predict, proba)
