"""Model formats: save a model with its signature, load it back, predict.

One module per flavor (``sklearn``, ``xgboost``, ``lightgbm``, ``torch``, ``onnx``,
``python``), chosen through the small map below and imported only when used; no flavor
imports its library until it saves or loads, so ``import modelplane.flavors`` pulls in
none of scikit-learn, XGBoost, LightGBM, torch, onnxruntime or pandas.

``save_model`` writes a directory: the flavor's files plus ``modelplane.json`` (see
``base``), in a format that does not run code when loaded wherever one exists; pickles
need an explicit opt-in to load (see ``pickles``). ``load_model`` returns a
``LoadedModel`` whose ``predict`` validates input against the signature (rules in
``inputs``) and returns numpy arrays.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.flavors.base import (
    Flavor,
    LoadedModel,
    ModelMeta,
    model_dir,
    read_descriptor,
    write_descriptor,
)
from modelplane.flavors.signature import ColumnSpec, Signature, infer_signature

__all__ = [
    "ColumnSpec",
    "LoadedModel",
    "ModelMeta",
    "Signature",
    "convert_sklearn_to_onnx",
    "flavor_names",
    "infer_signature",
    "load_model",
    "save_model",
]

# Detection order matters: XGBoost and LightGBM wrappers are also scikit-learn
# estimators, and anything with ``predict`` is a python model.
_FLAVORS = {
    "onnx": "modelplane.flavors.onnx",
    "torch": "modelplane.flavors.torch",
    "xgboost": "modelplane.flavors.xgboost",
    "lightgbm": "modelplane.flavors.lightgbm",
    "sklearn": "modelplane.flavors.sklearn",
    "python": "modelplane.flavors.python",
}
# Flavors that only load: MLflow model folders (registered through MLflow's API or imported)
_LOAD_ONLY = {"mlflow": "modelplane.flavors.mlflow"}


def flavor_names() -> list[str]:
    """The flavors, in the order ``save_model`` tries them."""
    return list(_FLAVORS)


def _flavor(name: str, *, loading: bool = False) -> Flavor:
    if loading and name in _LOAD_ONLY:
        return importlib.import_module(_LOAD_ONLY[name])  # type: ignore[return-value]
    if name not in _FLAVORS:
        raise InvalidArgumentError(
            f"unknown flavor {name!r}; accepted flavors: {', '.join(_FLAVORS)}",
            details={"field": "flavor", "expected": flavor_names(), "got": name},
        )
    return importlib.import_module(_FLAVORS[name])  # type: ignore[return-value]


def _detect(model: Any, flavor: str | None) -> Flavor:
    if flavor is not None:
        module = _flavor(flavor)
        if module.accepts(model):
            return module
        message = f"the {flavor} flavor cannot save a {type(model).__name__}"
    else:
        for name in _FLAVORS:
            module = _flavor(name)
            if module.accepts(model):
                return module
        message = (
            f"no flavor can save a {type(model).__name__} (it needs a predict method);"
            f" accepted flavors: {', '.join(_FLAVORS)}"
        )
    raise InvalidArgumentError(
        message,
        details={"field": "model", "expected": flavor_names(), "got": type(model).__name__},
    )


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    input_example: Any = None,
    flavor: str | None = None,
    **options: Any,
) -> ModelMeta:
    """Save ``model`` into the directory ``path`` (created; an existing one must be empty).

    ``flavor`` forces a flavor instead of detecting one; ``options`` are flavor options
    (``autocast="bf16"`` for torch). The input example (up to 10 rows are stored) gives
    the signature; without one, the signature comes from the model where it can.
    """
    module = _detect(model, flavor)
    with model_dir(path) as target:
        meta = module.save(model, target, input_example, options)
        write_descriptor(target, meta)
    return meta


def load_model(
    path: str | os.PathLike[str], *, allow_pickle: bool = False, **options: Any
) -> LoadedModel:
    """Load a model saved by ``save_model``; ``options`` are flavor load options
    (torch: ``device``, ``autocast``; onnx: ``threads``, ``providers``).

    A model stored as a pickle (``meta.pickled``: the python flavor, estimators skops
    cannot represent, versions saved before skops) runs code when loaded, so it loads
    only with ``allow_pickle=True``; otherwise ``PermissionDeniedError`` names the opt-in.
    """
    meta = read_descriptor(path)
    return _flavor(meta.flavor, loading=True).load(Path(path), meta, options, allow_pickle)


def convert_sklearn_to_onnx(
    model: Any, input_example: Any, path: str | os.PathLike[str], *, standard_ops: bool = False
) -> ModelMeta:
    """Convert a fitted scikit-learn model to ONNX, check it agrees, save it as onnx
    (``standard_ops``: MatMul rather than ``ai.onnx.ml`` linear operators, for int8)."""
    from modelplane.flavors.convert import convert_sklearn_to_onnx as convert

    return convert(model, input_example, path, standard_ops=standard_ops)
