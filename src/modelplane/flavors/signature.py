"""Model signatures: what a model takes and returns, inferred from an example.

A ``Signature`` is a list of input ``ColumnSpec`` and a list of output ``ColumnSpec``.
A spec with ``shape=None`` is a named scalar column (one value per row); a spec with a
shape is a tensor whose first dimension is the batch (``-1``). Dtypes are strings:
numpy names (``"float64"``, ``"float32"``, ``"int64"``, ``"bool"``, ...), ``"string"`` for
text or categories, and ``"datetime64[ns]"`` style names for timestamps.

``infer_signature`` accepts the same shapes of data that ``LoadedModel.predict`` does:

- pandas DataFrame -> one column spec per column, in order;
- numpy array, nested list, torch tensor -> one tensor input named ``"input"`` whose shape
  is the example's with the first dimension replaced by ``-1`` (a 2-D array of ``n``
  features is ``input: [-1, n]``);
- list of dict records or one dict record -> one column spec per key, dtypes from values;
- dict of columns (lists or 1-D arrays) -> one column spec per key; a value that is an
  array of 2 or more dimensions becomes a named tensor input.

Nothing here imports numpy, pandas or torch at module import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelplane.core.errors import InvalidArgumentError

__all__ = ["ColumnSpec", "Signature", "dtype_name", "infer_signature"]


@dataclass(frozen=True)
class ColumnSpec:
    """One named input or output: a scalar column (``shape=None``) or a tensor."""

    name: str
    dtype: str
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype}
        if self.shape is not None:
            out["shape"] = list(self.shape)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnSpec:
        shape = data.get("shape")
        return cls(
            name=str(data["name"]),
            dtype=str(data["dtype"]),
            shape=None if shape is None else tuple(int(d) for d in shape),
        )


@dataclass(frozen=True)
class Signature:
    """Inputs and outputs of a model; ``is_tensor`` when every input has a shape."""

    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec] = field(default_factory=list)

    @property
    def is_tensor(self) -> bool:
        return bool(self.inputs) and all(s.shape is not None for s in self.inputs)

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        return cls(
            inputs=[ColumnSpec.from_dict(d) for d in data.get("inputs", [])],
            outputs=[ColumnSpec.from_dict(d) for d in data.get("outputs", [])],
        )


_TORCH_DTYPES = {"bfloat16": "float32"}  # numpy has no bfloat16: feed float32, cast in torch


def dtype_name(dtype: Any) -> str:
    """The signature dtype string for a numpy, pandas or torch dtype."""
    text = str(dtype)
    if text.startswith("torch."):
        name = text.removeprefix("torch.")
        return _TORCH_DTYPES.get(name, name)
    numpy_dtype = getattr(dtype, "numpy_dtype", None)  # pandas nullable Int64, Float64, boolean
    if numpy_dtype is not None and getattr(numpy_dtype, "kind", "O") in "biuf":
        return str(numpy_dtype.name)
    kind = getattr(dtype, "kind", "O")
    if kind in "biufcmM":
        return str(dtype.name) if hasattr(dtype, "name") else text
    return "string"  # object, str, pandas string and categorical dtypes


def _value_kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    kind = getattr(getattr(value, "dtype", None), "kind", None)  # numpy scalars
    return {"b": "bool", "i": "int", "u": "int", "f": "float"}.get(kind or "", "string")


def _python_dtype(values: list[Any]) -> str:
    """Dtype of a column given as Python values (None is missing, not a type)."""
    kinds = {k for k in map(_value_kind, values) if k is not None}
    if not kinds:
        return "float64"
    if kinds == {"int"}:
        return "int64"
    if kinds <= {"int", "float"}:
        return "float64"
    if kinds == {"bool"}:
        return "bool"
    return "string"


def _tensor_spec(name: str, array: Any) -> ColumnSpec:
    return ColumnSpec(name, dtype_name(array.dtype), (-1, *(int(d) for d in array.shape[1:])))


def _is_frame(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")


def _column_spec(name: str, values: Any) -> ColumnSpec:
    import numpy as np

    if hasattr(values, "dtype") and hasattr(values, "shape"):
        array = values if isinstance(values, np.ndarray) else np.asarray(values)
        if array.ndim > 1:
            return _tensor_spec(name, array)
        if array.dtype.kind != "O":
            return ColumnSpec(name, dtype_name(getattr(values, "dtype", array.dtype)))
        values = array.tolist()
    values = list(values)
    if values and all(isinstance(v, list | tuple) for v in values):
        return _tensor_spec(name, np.asarray(values))
    return ColumnSpec(name, _python_dtype(values))


def _input_specs(example: Any) -> list[ColumnSpec]:
    import numpy as np

    if _is_frame(example):
        return [ColumnSpec(str(c), dtype_name(t)) for c, t in example.dtypes.items()]
    if type(example).__module__ == "torch":
        return [_tensor_spec("input", example)]
    if isinstance(example, np.ndarray):
        return [_tensor_spec("input", example if example.ndim else example.reshape(1))]
    if isinstance(example, dict):
        if not example:
            raise InvalidArgumentError(
                "input_example is an empty dict", details={"field": "input_example"}
            )
        if all(np.ndim(v) == 0 and not isinstance(v, list | tuple) for v in example.values()):
            example = [example]  # one record
        else:
            return [_column_spec(str(k), v) for k, v in example.items()]
    if isinstance(example, list | tuple):
        if not example:
            raise InvalidArgumentError("input_example is empty", details={"field": "input_example"})
        if all(isinstance(r, dict) for r in example):
            names = list(dict.fromkeys(k for r in example for k in r))
            return [_column_spec(str(n), [r.get(n) for r in example]) for n in names]
        return [_tensor_spec("input", np.asarray(example))]
    raise InvalidArgumentError(
        f"cannot infer a signature from {type(example).__name__}; use a DataFrame, an ndarray,"
        " a list of records, a dict of columns or a tensor",
        details={"field": "input_example", "got": type(example).__name__},
    )


def _output_specs(output: Any) -> list[ColumnSpec]:
    import numpy as np

    if _is_frame(output):
        return [ColumnSpec(str(c), dtype_name(t)) for c, t in output.dtypes.items()]
    if type(output).__module__ == "torch":
        tensor = output.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            tensor = tensor.float()
        output = tensor.numpy()
    array = np.asarray(output)
    if array.ndim == 0:
        array = array.reshape(1)
    return [_tensor_spec(getattr(output, "name", None) or "output", array)]


def infer_signature(example: Any, output: Any = None) -> Signature:
    """Infer a signature from an input example and, optionally, the model's output on it."""
    inputs = _input_specs(example)
    outputs = _output_specs(output) if output is not None else []
    return Signature(inputs=inputs, outputs=outputs)
