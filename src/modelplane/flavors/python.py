"""The python flavor: any object with a ``predict`` method, saved with cloudpickle.

A pickle runs code when it is loaded: a python-flavor version is marked ``pickled`` and
loads only with ``allow_pickle=True`` (see ``pickles``).

Classes defined in ``__main__`` or inside functions are pickled by value, so the saved
model loads where the defining module is not importable; classes from installed
packages are pickled by reference and need those packages at load time.

The model receives the same kind of data as its input example: a DataFrame (columns in
signature order), a numpy array, a list of records or a dict of columns. Without an
example there is no signature and ``predict`` gets the request data unchanged.
``predict_proba`` is offered when the object has one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.flavors.base import LoadedModel, ModelMeta, check_options, example_to_json
from modelplane.flavors.signature import Signature, infer_signature

if TYPE_CHECKING:
    from modelplane.flavors.inputs import Target

__all__ = ["NAME", "accepts", "load", "save"]

NAME = "python"
MODEL_FILE = "model.pkl"
_TARGETS: dict[str, Target] = {
    "dataframe": "dataframe",
    "records": "records",
    "record": "records",
    "columns": "columns",
}  # everything else (arrays, tensors) gets an ndarray


def accepts(model: Any) -> bool:
    return callable(getattr(model, "predict", None))


def _as_array(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    import numpy as np

    def call(data: Any) -> Any:
        return np.asarray(fn(data))

    return call


def _adapter(meta: ModelMeta) -> Any:
    from modelplane.flavors.inputs import InputAdapter

    target: Target = _TARGETS.get(meta.extra.get("input_kind") or "", "ndarray")
    return InputAdapter(meta.signature, target)


def save(model: Any, path: Path, input_example: Any, options: Mapping[str, Any]) -> ModelMeta:
    import cloudpickle

    check_options(NAME, options, set())
    with (path / MODEL_FILE).open("wb") as handle:
        cloudpickle.dump(model, handle, protocol=5)
    example, kind = example_to_json(input_example)
    classes = getattr(model, "classes_", None)
    meta = ModelMeta(
        flavor=NAME,
        has_proba=callable(getattr(model, "predict_proba", None)),
        classes=None if classes is None else list(getattr(classes, "tolist", lambda: classes)()),
        input_example=example,
        extra={"class": f"{type(model).__module__}.{type(model).__qualname__}", "input_kind": kind},
        library_version=cloudpickle.__version__,
        pickled=True,
    )
    if input_example is not None:
        inputs = infer_signature(input_example).inputs
        meta.signature = Signature(inputs)
        try:
            output = model.predict(_adapter(meta).prepare(input_example))
        except InvalidArgumentError:
            raise
        except Exception as exc:
            raise InvalidArgumentError(
                f"the model's predict failed on input_example: {exc}",
                details={"field": "input_example", "got": type(exc).__name__},
            ) from exc
        meta.signature = infer_signature(input_example, output)
    return meta


def load(
    path: Path, meta: ModelMeta, options: Mapping[str, Any], allow_pickle: bool = False
) -> LoadedModel:
    from modelplane.flavors.pickles import load_pickle

    check_options(NAME, options, set())
    model = load_pickle(path / MODEL_FILE, allow_pickle)
    proba = getattr(model, "predict_proba", None) if meta.has_proba else None
    return LoadedModel(
        meta, model, _adapter(meta), _as_array(model.predict), _as_array(proba) if proba else None
    )
