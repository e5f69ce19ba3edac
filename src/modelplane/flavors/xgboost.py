"""The XGBoost flavor: scikit-learn wrappers (``XGBClassifier``, ``XGBRegressor``, ...)
and raw ``Booster`` objects.

Saved in XGBoost's own UBJSON format as ``model.ubj``: the fastest to load and portable
across XGBoost versions, unlike a pickle. The wrapper class is recorded in the descriptor
so the same wrapper, with ``predict_proba`` and ``classes_``, comes back. A Booster
predicts with ``inplace_predict`` on a float array (no DMatrix is built per request) and
returns what the booster returns (for ``binary:logistic``, probabilities).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelplane.core.errors import IntegrityCheckError
from modelplane.flavors.base import LoadedModel, ModelMeta, check_options, example_to_json
from modelplane.flavors.signature import ColumnSpec, Signature
from modelplane.flavors.sklearn import build_loaded, feature_signature, sklearn_like_meta

__all__ = ["NAME", "accepts", "load", "save"]

NAME = "xgboost"
MODEL_FILE = "model.ubj"


def accepts(model: Any) -> bool:
    xgb = sys.modules.get("xgboost")
    return xgb is not None and isinstance(model, xgb.XGBModel | xgb.Booster)


def _booster_meta(booster: Any, input_example: Any, version: str) -> ModelMeta:
    names = booster.feature_names
    inputs = feature_signature(
        None if names is None else list(names), booster.num_features(), input_example
    )
    example, kind = example_to_json(input_example)
    outputs = [ColumnSpec("prediction", "float32", (-1,))]
    return ModelMeta(
        flavor=NAME,
        signature=None if inputs is None else Signature(inputs, outputs),
        input_example=example,
        extra={"wrapper": "Booster", "input_mode": "ndarray", "input_kind": kind},
        library_version=version,
    )


def save(model: Any, path: Path, input_example: Any, options: Mapping[str, Any]) -> ModelMeta:
    import xgboost

    check_options(NAME, options, set())
    model.save_model(str(path / MODEL_FILE))
    if isinstance(model, xgboost.Booster):
        return _booster_meta(model, input_example, xgboost.__version__)
    wrapper = f"{type(model).__module__}:{type(model).__qualname__}"
    return sklearn_like_meta(NAME, model, input_example, xgboost.__version__, {"wrapper": wrapper})


def _wrapper_class(spec: str) -> Any:
    module, _, qualname = spec.partition(":")
    if module != "xgboost" and not module.startswith("xgboost."):
        # importing a module can run code: only XGBoost's own are imported from here
        raise IntegrityCheckError(
            f"{spec} is not an XGBoost model class", details={"field": "wrapper", "got": spec}
        )
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def load(
    path: Path, meta: ModelMeta, options: Mapping[str, Any], allow_pickle: bool = False
) -> LoadedModel:
    import xgboost

    from modelplane.flavors.inputs import InputAdapter

    check_options(NAME, options, set())
    file = str(path / MODEL_FILE)
    if meta.extra.get("wrapper") == "Booster":
        booster = xgboost.Booster(model_file=file)
        adapter = InputAdapter(meta.signature, "ndarray", "float32")
        return LoadedModel(meta, booster, adapter, booster.inplace_predict)
    wrapper = _wrapper_class(meta.extra["wrapper"])
    if not (isinstance(wrapper, type) and issubclass(wrapper, xgboost.XGBModel)):
        raise IntegrityCheckError(
            f"{meta.extra['wrapper']} is not an XGBoost model class",
            details={"field": "wrapper", "got": meta.extra["wrapper"]},
        )
    model = wrapper()
    model.load_model(file)
    return build_loaded(model, meta)
