"""The int8 step of ``models optimize``: ONNX graphs onnxruntime's dynamic quantizer can
work on, the quantization itself, and how far the result strays from the float model.

- A graph of only ``ai.onnx.ml`` operators (what skl2onnx makes of a scaler and a linear
  model) declares no default-domain opset, or declares it twice, and the quantizer needs
  exactly one ("Failed to find proper ai.onnx domain"): the copy quantized declares one.
  scikit-learn models are converted with standard operators where skl2onnx has them
  (``MatMul`` instead of ``LinearClassifier``), so their weights are initializers the
  quantizer reaches.
- TorchScript models are exported with torch's TorchScript-based ONNX exporter (the module
  is already scripted or traced; the dynamo exporter would need its Python source), and the
  graph is checked against the module on the input example.
- A graph with no weight the quantizer turns into int8 (tree ensembles keep thresholds as
  attributes) is refused: an "int8" copy of the float model would only mislead.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.core.errors import InvalidStateError

if TYPE_CHECKING:
    from modelplane.flavors.base import ModelMeta

__all__ = ["agreement", "quantize_int8", "torch_to_onnx"]

#: the default-domain opset added to a graph that declares none (onnxruntime runs it, and
#: the quantizer's DynamicQuantizeLinear needs >= 11)
DEFAULT_OPSET = 17
#: operators of a quantized graph that carry int8 weights
INT8_OPS = frozenset({"MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "QAttention",
                      "QGemm", "DynamicQuantizeLSTM", "MatMulIntegerToFloat"})


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantizer logs advice on the root logger (which would also install a
    handler on it); keep that out of the user's logs."""
    root = logging.getLogger()
    hush = logging.NullHandler()
    drop = logging.Filter("\x00")  # matches no logger name: drops every record
    root.addFilter(drop)
    added = not root.handlers
    if added:
        root.addHandler(hush)
    try:
        yield
    finally:
        root.removeFilter(drop)
        if added:
            root.removeHandler(hush)


def _with_default_opset(graph: Path, out: Path) -> Path:
    """``graph``, or a copy declaring the default domain exactly once (the quantizer needs
    one; skl2onnx writes none for ai.onnx.ml-only graphs, or the same one twice)."""
    import onnx

    model = onnx.load(str(graph))
    default = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if len(default) == 1:
        return graph
    others = [o for o in model.opset_import if o.domain not in ("", "ai.onnx")]
    del model.opset_import[:]
    model.opset_import.extend([*others, onnx.helper.make_opsetid(
        "", max(default) if default else DEFAULT_OPSET)])
    onnx.save(model, str(out))
    return out


def quantize_int8(graph: Path, out: Path, source: str) -> bytes:
    """The int8 dynamic quantization of ``graph`` (a ``model.onnx``), written to ``out``."""
    from modelplane.flavors.base import require

    require("onnxruntime", "onnx")
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    usable = _with_default_opset(graph, out.with_name("with-opset.onnx"))
    try:
        with _quiet_root_logger():
            # ai.onnx.ml outputs have no inferred type: weights behind them are float
            quantize_dynamic(str(usable), str(out), weight_type=QuantType.QInt8,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    except Exception as exc:  # onnxruntime raises many kinds for graphs it cannot handle
        raise InvalidStateError(f"int8 quantization of {source} failed: {exc}",
                                details={"field": "quantize"}) from exc
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    if not ops & INT8_OPS:
        raise InvalidStateError(
            f"{source} has no weights int8 quantization applies to (it quantizes MatMul, Gemm, "
            "convolution and attention weights; tree ensembles and other models keep theirs "
            "as graph attributes), so an int8 version would be the float model unchanged",
            details={"field": "quantize"})
    return out.read_bytes()


def _example_tensor(meta: ModelMeta) -> Any:
    spec = meta.signature.inputs[0] if meta.signature and meta.signature.inputs else None
    dtype = np.dtype(spec.dtype) if spec is not None and spec.dtype else np.float32
    return np.asarray(meta.input_example, dtype=dtype)


def torch_to_onnx(native: Path, meta: ModelMeta, target: Path, source: str) -> Any:
    """Export the TorchScript model in ``native`` into ``target``/model.onnx (batch axis
    dynamic), check it against the module on the example, and return the example."""
    import torch

    from modelplane.flavors.torch import MODEL_FILE

    if meta.input_example is None or isinstance(meta.input_example, dict):
        raise InvalidStateError(f"{source}: exporting a PyTorch model to ONNX needs its one-"
                                "tensor input example", details={"field": "input_example"})
    example = _example_tensor(meta)
    module = torch.jit.load(str(native / MODEL_FILE), map_location="cpu").eval()
    exported = target.parent / f"{target.name}-export.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated upstream
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(example),), str(exported), dynamo=False,
                          input_names=["input"], output_names=["output"],
                          opset_version=DEFAULT_OPSET,
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    from modelplane.flavors import onnx as onnx_flavor
    from modelplane.flavors.base import model_dir, write_descriptor

    with model_dir(target) as folder:
        write_descriptor(folder, onnx_flavor.save_bytes(exported.read_bytes(), folder,
                                                        example, source=source))
    import onnxruntime as ort

    got = ort.InferenceSession(str(exported)).run(None, {"input": example})[0]
    with torch.no_grad():  # after export, inference mode trips the scripted module
        want = module(torch.from_numpy(example))
    want = (want[0] if isinstance(want, tuple | list) else want).detach().float().numpy()
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-5):
        raise InvalidStateError(f"the ONNX export of {source} disagrees with the PyTorch "
                                "model on its input example", details={"field": "model"})
    return example


def agreement(float_out: Any, int8_out: Any, labels: bool) -> float:
    """How closely the int8 model follows the float one: the share of equal labels, or
    1 - the relative RMS difference of the outputs."""
    a, b = np.asarray(float_out), np.asarray(int8_out)
    if labels:
        return float(np.mean(a.astype(object) == b.astype(object)))
    a, b = a.astype(float), b.astype(float).reshape(a.shape)
    scale = float(np.sqrt(np.mean(a * a))) or 1.0
    return 1.0 - float(np.sqrt(np.mean((a - b) ** 2))) / scale
