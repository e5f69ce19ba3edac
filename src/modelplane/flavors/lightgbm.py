"""The LightGBM flavor: scikit-learn wrappers (``LGBMClassifier``, ``LGBMRegressor``, ...)
and raw ``Booster`` objects.

Wrappers are saved with skops (``model.skops``; LightGBM's own classes are on the
allow-list beside scikit-learn's): the Booster inside is restored from the same text model
a Booster file holds, and the wrapper keeps ``predict_proba``, ``classes_`` and string
labels. Wrappers saved before that (``model.pkl``) load only with ``allow_pickle=True``.
A raw Booster is saved as LightGBM's text model (``model.txt``) and predicts on a float
array, returning what the booster returns (for ``binary``, probabilities).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelplane.flavors.base import LoadedModel, ModelMeta, check_options, example_to_json
from modelplane.flavors.pickles import TRUSTED_PREFIXES
from modelplane.flavors.signature import ColumnSpec, Signature
from modelplane.flavors.sklearn import (
    build_loaded,
    feature_signature,
    load_estimator,
    save_estimator,
    sklearn_like_meta,
)

__all__ = ["NAME", "accepts", "load", "save"]

NAME = "lightgbm"
BOOSTER_FILE = "model.txt"
PREFIXES = (*TRUSTED_PREFIXES, "lightgbm.")


def accepts(model: Any) -> bool:
    lgb = sys.modules.get("lightgbm")
    return lgb is not None and isinstance(model, lgb.LGBMModel | lgb.Booster)


def _booster_meta(booster: Any, input_example: Any, version: str) -> ModelMeta:
    names = [str(n) for n in booster.feature_name()]
    if all(n == f"Column_{i}" for i, n in enumerate(names)):  # LightGBM's default names
        names = []
    inputs = feature_signature(names or None, booster.num_feature(), input_example)
    example, kind = example_to_json(input_example)
    outputs = [ColumnSpec("prediction", "float64", (-1,))]
    return ModelMeta(
        flavor=NAME,
        signature=None if inputs is None else Signature(inputs, outputs),
        input_example=example,
        extra={"wrapper": "Booster", "input_mode": "ndarray", "input_kind": kind},
        library_version=version,
    )


def save(model: Any, path: Path, input_example: Any, options: Mapping[str, Any]) -> ModelMeta:
    import lightgbm

    check_options(NAME, options, set())
    if isinstance(model, lightgbm.Booster):
        model.save_model(str(path / BOOSTER_FILE))
        return _booster_meta(model, input_example, lightgbm.__version__)
    pickled = save_estimator(model, path, PREFIXES)
    extra = {"wrapper": type(model).__name__}
    meta = sklearn_like_meta(NAME, model, input_example, lightgbm.__version__, extra)
    meta.pickled = pickled
    return meta


def load(
    path: Path, meta: ModelMeta, options: Mapping[str, Any], allow_pickle: bool = False
) -> LoadedModel:
    import lightgbm

    from modelplane.flavors.inputs import InputAdapter

    check_options(NAME, options, set())
    if meta.extra.get("wrapper") == "Booster":
        booster = lightgbm.Booster(model_file=str(path / BOOSTER_FILE))
        adapter = InputAdapter(meta.signature, "ndarray", "float64")
        return LoadedModel(meta, booster, adapter, booster.predict)
    return build_loaded(load_estimator(path, allow_pickle, PREFIXES), meta)
