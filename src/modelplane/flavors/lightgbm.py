"""The LightGBM flavor: scikit-learn wrappers (``LGBMClassifier``, ``LGBMRegressor``, ...)
and raw ``Booster`` objects.

Wrappers are pickled (``model.pkl``): unpickling re-parses the same text model a Booster
file holds, so it loads as fast, and it keeps ``predict_proba``, ``classes_`` and string
labels. A raw Booster is saved as LightGBM's text model (``model.txt``) and predicts on a
float array, returning what the booster returns (for ``binary``, probabilities).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelplane.flavors.base import LoadedModel, ModelMeta, check_options, example_to_json
from modelplane.flavors.signature import ColumnSpec, Signature
from modelplane.flavors.sklearn import (
    build_loaded,
    dump_pickle,
    feature_signature,
    load_pickle,
    sklearn_like_meta,
)

__all__ = ["NAME", "accepts", "load", "save"]

NAME = "lightgbm"
WRAPPER_FILE = "model.pkl"
BOOSTER_FILE = "model.txt"


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
    dump_pickle(model, path / WRAPPER_FILE)
    extra = {"wrapper": type(model).__name__}
    return sklearn_like_meta(NAME, model, input_example, lightgbm.__version__, extra)


def load(path: Path, meta: ModelMeta, options: Mapping[str, Any]) -> LoadedModel:
    import lightgbm

    from modelplane.flavors.inputs import InputAdapter

    check_options(NAME, options, set())
    if meta.extra.get("wrapper") == "Booster":
        booster = lightgbm.Booster(model_file=str(path / BOOSTER_FILE))
        adapter = InputAdapter(meta.signature, "ndarray", "float64")
        return LoadedModel(meta, booster, adapter, booster.predict)
    return build_loaded(load_pickle(path / WRAPPER_FILE), meta)
