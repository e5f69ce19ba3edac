"""scikit-learn -> ONNX conversion, checked against scikit-learn: ``convert_sklearn_to_onnx``.

skl2onnx converts with ZipMap disabled, so a classifier's graph returns a label tensor
and a probability tensor. Numeric inputs become one float32 tensor ``input: [-1, n]``;
models that select columns by name (a ColumnTransformer) or take text get one
``[-1, 1]`` input per column. The graph is then run with onnxruntime on the input
example and compared with scikit-learn: labels must be equal; probabilities and
regression outputs must agree within rtol 1e-4 plus an absolute tolerance of 1e-5 times
the output's magnitude (the graph computes in float32, scikit-learn in float64).
"""

from __future__ import annotations

import os
from typing import Any

from modelplane.core.errors import InvalidArgumentError, InvalidStateError
from modelplane.flavors import onnx as onnx_flavor
from modelplane.flavors import sklearn as sklearn_flavor
from modelplane.flavors.base import ModelMeta, model_dir, require, write_descriptor
from modelplane.flavors.casting import spec_dtype
from modelplane.flavors.signature import Signature

__all__ = ["convert_sklearn_to_onnx"]

RTOL = 1e-4
ATOL_SCALE = 1e-5


def _selects_columns(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    parts = [model, *model.get_params(deep=True).values()]
    return any(isinstance(p, ColumnTransformer) for p in parts)


def _initial_types(model: Any, signature: Signature) -> list[tuple[str, Any]]:
    from skl2onnx.common import data_types as types

    inputs = signature.inputs
    if signature.is_tensor:
        tail = list((inputs[0].shape or (-1, -1))[1:])
        return [("input", types.FloatTensorType([None, *tail]))]
    numeric = all(spec_dtype(s.dtype).kind in "biuf" for s in inputs)
    if numeric and not _selects_columns(model):
        return [("input", types.FloatTensorType([None, len(inputs)]))]
    by_kind = {
        "f": types.FloatTensorType,
        "i": types.Int64TensorType,
        "u": types.Int64TensorType,
        "b": types.BooleanTensorType,
    }
    return [
        (s.name, by_kind.get(spec_dtype(s.dtype).kind, types.StringTensorType)([None, 1]))
        for s in inputs
    ]


def _label_mismatches(reference: Any, converted: Any) -> int:
    import numpy as np

    ref = np.asarray(reference, dtype=object).reshape(-1)
    got = np.asarray(converted, dtype=object).reshape(-1)
    if ref.shape != got.shape:
        return int(ref.size)
    return int((ref != got).sum())


def _value_mismatches(reference: Any, converted: Any) -> int:
    import numpy as np

    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(converted, dtype=np.float64)
    if ref.size != got.size:
        return int(ref.size)
    got = got.reshape(ref.shape)
    atol = ATOL_SCALE * max(1.0, float(np.nanmax(np.abs(ref))) if ref.size else 1.0)
    return int((~np.isclose(got, ref, rtol=RTOL, atol=atol, equal_nan=True)).sum())


def _check(expected: tuple[Any, Any], got: tuple[Any, Any], is_classifier: bool) -> None:
    """Raise when the graph's (predictions, probabilities) differ from scikit-learn's."""
    checks = [("predictions", expected[0], got[0], is_classifier)]
    if expected[1] is not None:
        checks.append(("probabilities", expected[1], got[1], False))
    for kind, ref, out, labels in checks:
        if out is None:
            bad = len(ref)
        else:
            bad = _label_mismatches(ref, out) if labels else _value_mismatches(ref, out)
        if bad:
            raise InvalidStateError(
                f"the ONNX graph disagrees with scikit-learn on {bad} {kind} of the input example",
                details={"field": kind, "expected": "equal", "got": f"{bad} differ"},
            )


def _convert(model: Any, signature: Signature, is_classifier: bool, standard_ops: bool) -> bytes:
    skl2onnx = require("skl2onnx", "onnx")
    options = {id(model): {"zipmap": False}} if is_classifier else None
    black = {"LinearClassifier", "LinearRegressor", "Scaler"} if standard_ops else None
    try:
        graph = skl2onnx.convert_sklearn(
            model, initial_types=_initial_types(model, signature), options=options,
            black_op=black,
        )
    except Exception as exc:  # skl2onnx raises many kinds for unsupported models
        name = type(model).__name__
        raise InvalidArgumentError(
            f"cannot convert {name} to ONNX: {exc}",
            details={"field": "model", "expected": "a model skl2onnx supports", "got": name},
        ) from exc
    return bytes(graph.SerializeToString())


def convert_sklearn_to_onnx(
    model: Any, input_example: Any, path: str | os.PathLike[str], *, standard_ops: bool = False
) -> ModelMeta:
    """Convert a fitted scikit-learn model, verify it on the example, save it as onnx.
    ``standard_ops``: standard operators instead of ``ai.onnx.ml`` ones where skl2onnx has
    both (``MatMul`` for ``LinearClassifier``/``LinearRegressor``, ``Sub``/``Div`` for
    ``Scaler``), so the weights are initializers that int8 quantization can reach."""
    if input_example is None:
        raise InvalidArgumentError(
            "convert_sklearn_to_onnx needs an input_example to type the graph and check it",
            details={"field": "input_example", "expected": "example rows", "got": None},
        )
    if not sklearn_flavor.accepts(model):
        raise InvalidArgumentError(
            f"{type(model).__name__} is not a scikit-learn estimator",
            details={"field": "model", "expected": "sklearn", "got": type(model).__name__},
        )
    import sklearn

    ref_meta = sklearn_flavor.sklearn_like_meta(
        "sklearn", model, input_example, sklearn.__version__, {}
    )
    if ref_meta.signature is None:
        raise InvalidArgumentError("cannot type the example", details={"field": "input_example"})
    classes = ref_meta.classes
    is_classifier = classes is not None and not any(isinstance(c, list) for c in classes)
    data = _convert(model, ref_meta.signature, is_classifier, standard_ops)
    reference = sklearn_flavor.build_loaded(model, ref_meta)
    expected = reference.predict(input_example)
    expected_proba = reference.predict_proba(input_example) if reference.has_proba else None
    with model_dir(path) as target:
        meta = onnx_flavor.save_bytes(
            data,
            target,
            input_example,
            classes=classes if is_classifier else None,
            squeeze=getattr(expected, "ndim", 0) == 1,
            source=f"{type(model).__module__}.{type(model).__qualname__}",
        )
        converted = onnx_flavor.load(target, meta, {})
        proba = converted.predict_proba(input_example) if converted.has_proba else None
        _check((expected, expected_proba), (converted.predict(input_example), proba), is_classifier)
        write_descriptor(target, meta)
    return meta
