"""The ONNX flavor: any ONNX graph, run with onnxruntime (``model.onnx``).

Accepts an ``onnx.ModelProto``, its serialized bytes, or a path to a ``.onnx`` file.

The signature is the graph's inputs and outputs (symbolic dimensions become ``-1``),
unless the input example names columns that feed the graph ("feed" in ``meta.extra``):

- ``stack``: one 2-D graph input and an example with as many named columns; requests
  are validated by column name and stacked into that tensor, cast to its dtype;
- ``columns``: one ``[-1, 1]`` graph input per example column, named alike (skl2onnx
  pipelines with a ColumnTransformer);
- ``tensor``: inputs are the graph's own, fed as given (cast to the graph's dtypes).

``predict`` returns the label output when the graph has one (skl2onnx classifiers
converted with ZipMap disabled return ``label`` and ``probabilities``), else the first
output; ``predict_proba`` returns the probabilities output. Sessions run with
``intra_op_num_threads=1`` by default, since a server runs requests side by side; set
``MODELPLANE_ONNX_THREADS`` or the load option ``threads`` (0 = onnxruntime's default).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelplane.core.errors import ConfigurationError, InvalidArgumentError
from modelplane.flavors.base import (
    LoadedModel,
    ModelMeta,
    check_options,
    example_to_json,
    require,
)
from modelplane.flavors.signature import ColumnSpec, Signature, infer_signature

__all__ = ["NAME", "accepts", "load", "save", "save_bytes", "session"]

NAME = "onnx"
MODEL_FILE = "model.onnx"
THREADS_ENV = "MODELPLANE_ONNX_THREADS"
_ORT_DTYPES = {
    f"tensor({ort})": ours
    for ort, ours in [
        ("float", "float32"),
        ("double", "float64"),
        ("float16", "float16"),
        ("int64", "int64"),
        ("int32", "int32"),
        ("int16", "int16"),
        ("int8", "int8"),
        ("uint8", "uint8"),
        ("bool", "bool"),
        ("string", "string"),
    ]
}
_LABEL_PROBA = (("label", "probabilities"), ("output_label", "output_probability"))


def accepts(model: Any) -> bool:
    if isinstance(model, bytes | bytearray):
        return True
    if isinstance(model, str | os.PathLike):
        return str(model).endswith(".onnx") and Path(model).is_file()
    onnx = sys.modules.get("onnx")
    return onnx is not None and isinstance(model, onnx.ModelProto)


def _model_bytes(model: Any) -> bytes:
    if isinstance(model, bytes | bytearray):
        return bytes(model)
    if isinstance(model, str | os.PathLike):
        return Path(model).read_bytes()
    return bytes(model.SerializeToString())


def _threads(options: Mapping[str, Any]) -> int:
    explicit = options.get("threads")
    raw = explicit if explicit is not None else os.environ.get(THREADS_ENV, "1")
    try:
        threads = int(raw)
        if threads < 0:
            raise ValueError(raw)
    except (TypeError, ValueError):
        field = "threads" if explicit is not None else THREADS_ENV
        error = InvalidArgumentError if explicit is not None else ConfigurationError
        message = f"{field} must be a whole number >= 0, got {raw!r}"
        raise error(message, details={"field": field, "expected": ">= 0", "got": raw}) from None
    return threads


def session(model: bytes | str, threads: int = 1, providers: list[str] | None = None) -> Any:
    """An onnxruntime session over serialized bytes or a file path."""
    ort = require("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(model, options, providers=providers or ["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own (non-Python-standard) errors
        raise InvalidArgumentError(
            f"not a valid ONNX model: {exc}", details={"field": "model", "got": "onnx"}
        ) from exc


def _spec(node: Any) -> ColumnSpec:
    shape = tuple(d if isinstance(d, int) else -1 for d in (node.shape or []))
    return ColumnSpec(node.name, _ORT_DTYPES.get(node.type, node.type), shape)


def _inputs(graph: list[ColumnSpec], input_example: Any) -> tuple[list[ColumnSpec], str]:
    if input_example is None:
        return graph, "tensor"
    example = infer_signature(input_example).inputs
    if any(s.shape is not None for s in example):
        return graph, "tensor"
    names = [s.name for s in example]
    shape = graph[0].shape or () if len(graph) == 1 else ()
    if len(shape) == 2 and shape[1] in (-1, len(example)):
        return example, "stack"
    if len(graph) == len(example) and {g.name for g in graph} == set(names):
        return example, "columns"
    return graph, "tensor"


def _label_proba(outputs: list[ColumnSpec]) -> tuple[str, str | None]:
    names = [o.name for o in outputs]
    for label, proba in _LABEL_PROBA:
        if label in names and proba in names:
            spec = outputs[names.index(proba)]
            return label, proba if spec.dtype.startswith("float") else None
    return names[0], None


def save(model: Any, path: Path, input_example: Any, options: Mapping[str, Any]) -> ModelMeta:
    check_options(NAME, options, set())
    return save_bytes(_model_bytes(model), path, input_example)


def save_bytes(
    data: bytes,
    path: Path,
    input_example: Any,
    *,
    classes: list[Any] | None = None,
    squeeze: bool = False,
    source: str | None = None,
) -> ModelMeta:
    """Write a serialized graph; ``squeeze`` flattens ``[-1, 1]`` predictions to 1-D."""
    ort = require("onnxruntime", "onnx")
    sess = session(data)
    graph_in = [_spec(n) for n in sess.get_inputs()]
    graph_out = [_spec(n) for n in sess.get_outputs()]
    inputs, feed = _inputs(graph_in, input_example)
    label, proba = _label_proba(graph_out)
    if squeeze:  # predict returns 1-D: say so in the signature
        graph_out = [
            ColumnSpec(o.name, o.dtype, (-1,)) if o.name == label and o.shape == (-1, 1) else o
            for o in graph_out
        ]
    (path / MODEL_FILE).write_bytes(data)
    example, kind = example_to_json(input_example)
    return ModelMeta(
        flavor=NAME,
        signature=Signature(inputs, graph_out),
        has_proba=proba is not None,
        classes=classes,
        input_example=example,
        extra={
            "feed": feed,
            "graph_inputs": [g.to_dict() for g in graph_in],
            "label_output": label,
            "proba_output": proba,
            "squeeze": squeeze,
            "source": source,
            "input_kind": kind,
        },
        library_version=ort.__version__,
    )


def _runner(sess: Any, output: str, to_feed: Callable[[Any], Any], squeeze: bool) -> Any:
    names, run = [output], sess.run
    if squeeze:
        return lambda data: run(names, to_feed(data))[0].reshape(-1)
    return lambda data: run(names, to_feed(data))[0]


def _feeder(meta: ModelMeta, graph: list[ColumnSpec]) -> tuple[Any, Callable[[Any], Any]]:
    from modelplane.flavors.casting import spec_dtype
    from modelplane.flavors.inputs import InputAdapter

    feed = meta.extra.get("feed", "tensor")
    if len(graph) == 1 and feed in ("stack", "tensor"):
        name, dtype = graph[0].name, str(spec_dtype(graph[0].dtype))
        return InputAdapter(meta.signature, "ndarray", dtype), lambda arr: {name: arr}
    dtypes = {g.name: spec_dtype(g.dtype) for g in graph}
    shaped = feed == "columns"

    def to_feed(cols: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, dtype in dtypes.items():
            value = cols[name].astype(dtype, copy=False)
            out[name] = value.reshape(-1, 1) if shaped else value
        return out

    return InputAdapter(meta.signature, "columns"), to_feed


def load(
    path: Path, meta: ModelMeta, options: Mapping[str, Any], allow_pickle: bool = False
) -> LoadedModel:
    check_options(NAME, options, {"threads", "providers"})
    sess = session(str(path / MODEL_FILE), _threads(options), options.get("providers"))
    graph = [ColumnSpec.from_dict(d) for d in meta.extra.get("graph_inputs", [])]
    graph = graph or [_spec(n) for n in sess.get_inputs()]
    adapter, to_feed = _feeder(meta, graph)
    label = meta.extra.get("label_output") or sess.get_outputs()[0].name
    squeeze = bool(meta.extra.get("squeeze"))
    proba_name = meta.extra.get("proba_output")
    proba = _runner(sess, proba_name, to_feed, False) if proba_name else None
    return LoadedModel(meta, sess, adapter, _runner(sess, label, to_feed, squeeze), proba)
