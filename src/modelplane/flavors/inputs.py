"""Request data -> what a model consumes, validated against its signature.

``InputAdapter.prepare`` accepts a pandas DataFrame, a numpy array (or nested lists), a
list of dict records, one dict record, a dict of columns, or a torch tensor, and returns
the model's input: a 2-D numpy array, a DataFrame, a dict of arrays, or records.

Rules (every violation is an ``InvalidArgumentError`` whose details are
``{"field": <column or "input">, "expected": ..., "got": ...}``):

- Columns are matched by name and put in signature order; a missing column is an error;
  extra columns are ignored. A numpy array or nested list is matched by position and
  must have exactly the expected number of features (one 1-D row is a batch of one).
- Values are checked and converted per column under the rules in ``casting``: ints
  and bools where a float is expected, integral floats where an int is, numeric strings
  parsed, other strings rejected, anything accepted (as ``str``) by a ``string`` column.
- Tensor inputs must match the signature shape (``-1`` is any size); one example without
  the batch dimension becomes a batch of one. Inputs with no rows are rejected.

Validation is cheap on the common paths: a numpy array of the right dtype and shape is
returned as is, and all-float column signatures convert records, dicts and DataFrames
straight into one float array; only when that fails is the slow, diagnosing path taken.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from modelplane.core.errors import InvalidArgumentError
from modelplane.flavors.casting import asarray, cast, error, spec_dtype
from modelplane.flavors.signature import ColumnSpec, Signature

__all__ = ["InputAdapter", "Target", "spec_dtype"]

Target = Literal["ndarray", "dataframe", "columns", "records"]
_NUMERIC = "biuf"


def _common_dtype(specs: list[ColumnSpec]) -> np.dtype[Any]:
    dtypes = [spec_dtype(s.dtype) for s in specs]
    if not dtypes:
        return np.dtype(np.float64)
    if all(d.kind in _NUMERIC for d in dtypes):
        return np.result_type(*dtypes)
    return np.dtype(object)


def _is_frame(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")


class InputAdapter:
    """Validates and converts request data for one model (built once, at load).

    ``target``: ``ndarray`` (one 2-D array, or the single tensor input), ``dataframe``
    (columns in signature order), ``columns`` (dict of arrays by input name) or
    ``records`` (list of dicts). ``dtype`` overrides the ``ndarray`` dtype (for example
    float32 for an ONNX graph). Without a signature, data passes through unchanged.
    """

    def __init__(
        self, signature: Signature | None, target: Target = "ndarray", dtype: str | None = None
    ) -> None:
        self.signature = signature
        self.target = target
        specs = list(signature.inputs) if signature is not None else []
        self._specs = specs
        self._names = [s.name for s in specs]
        self._n = len(specs)
        self._dtypes = [spec_dtype(s.dtype) for s in specs]
        self._dtype = np.dtype(dtype) if dtype else _common_dtype(specs)
        self._frame_cols: Any = None
        single_tensor = self._n == 1 and specs[0].shape is not None
        if not specs:
            self._impl = _passthrough
        elif single_tensor and target != "columns":
            self._shape = specs[0].shape or ()
            self._tail = tuple(self._shape[1:])
            self._exact = -1 not in self._tail
            self._impl = self._prepare_tensor
        else:
            self._fast = (
                target == "ndarray"
                and self._dtype.kind == "f"
                and all(
                    d.kind == "f" and s.shape is None
                    for d, s in zip(self._dtypes, specs, strict=True)
                )
            )
            self._impl = self._prepare_columns

    def prepare(self, data: Any) -> Any:
        return self._impl(data)

    # -- one tensor input -------------------------------------------------------------
    def _prepare_tensor(self, data: Any) -> Any:
        if (
            type(data) is np.ndarray
            and data.dtype == self._dtype
            and data.ndim == len(self._shape)
            and data.shape[0]
            and (not self._exact or data.shape[1:] == self._tail)
        ):
            return data
        spec = self._specs[0]
        return self._check_tensor(spec, self._tensor_value(spec.name, data), self._dtype)

    def _tensor_value(self, name: str, data: Any) -> Any:
        if _is_frame(data):
            return data.to_numpy()
        if isinstance(data, dict):
            if name not in data:
                raise error(name, "a tensor", "missing", f"input {name!r} is missing")
            return data[name]
        if isinstance(data, list) and data and isinstance(data[0], dict):
            try:
                return [r[name] for r in data]
            except (KeyError, TypeError):
                raise error(name, "a tensor", "missing", f"input {name!r} is missing") from None
        return data

    def _check_tensor(self, spec: ColumnSpec, value: Any, dtype: np.dtype[Any]) -> Any:
        shape = spec.shape or ()
        if isinstance(value, np.ndarray):
            arr = value
        elif isinstance(value, list | tuple) or type(value).__module__ == "torch":
            arr = asarray(spec.name, value)
        else:
            raise error(spec.name, "an array", type(value).__name__)
        if arr.ndim == len(shape) - 1:
            arr = arr[np.newaxis]
        expected = list(shape)
        if arr.ndim != len(shape) or any(
            e not in (-1, g) for e, g in zip(shape[1:], arr.shape[1:], strict=True)
        ):
            raise error(spec.name, expected, list(arr.shape))
        if not arr.shape[0]:
            raise error(spec.name, "at least one row", 0)
        return cast(spec.name, arr, dtype, spec.dtype)

    # -- named columns -----------------------------------------------------------------
    def _prepare_columns(self, data: Any) -> Any:
        if self._fast:
            try:
                out = self._fast_float(data)
            except (KeyError, ValueError, TypeError, IndexError):
                out = None
            if out is not None and out.shape[0]:
                return out
        return self._assemble(*self._columns(data))

    def _fast_float(self, data: Any) -> Any:
        """All-float signature to float array; None means: take the diagnosing path."""
        kind = type(data)
        if kind is np.ndarray:
            if data.dtype.kind not in _NUMERIC or data.shape[-1:] != (self._n,):
                return None
            if data.ndim == 1:
                data = data.reshape(1, self._n)
            return data.astype(self._dtype, copy=False) if data.ndim == 2 else None
        if kind is dict:
            arr = np.array([data[c] for c in self._names], dtype=self._dtype)
            if arr.ndim == 1:
                return arr.reshape(1, self._n)
            return np.ascontiguousarray(arr.T) if arr.ndim == 2 else None
        if kind is list and data and type(data[0]) is dict:
            arr = np.array([[r[c] for c in self._names] for r in data], dtype=self._dtype)
            return arr if arr.ndim == 2 else None
        if _is_frame(data):
            cols = data.columns
            if cols is not self._frame_cols:
                if len(cols) != self._n or cols.tolist() != self._names:
                    return data[self._names].to_numpy(dtype=self._dtype)
                self._frame_cols = cols  # an Index is immutable: identity means equality
            return data.to_numpy(dtype=self._dtype)
        return None

    def _columns(self, data: Any) -> tuple[dict[str, Any], int]:
        """Validated 1-D arrays (or tensors) by column name, and the row count."""
        if _is_frame(data):
            present = {str(c): c for c in data.columns}  # non-string labels match by str()
            raw = {}
            for spec in self._specs:
                if spec.name not in present:
                    raise self._missing(spec)
                raw[spec.name] = data[present[spec.name]].to_numpy()
            return self._coerce_all(raw, len(data))
        if isinstance(data, dict):
            values = list(data.values())
            if not any(np.ndim(v) or isinstance(v, list | tuple) for v in values):
                return self._records([data])
            return self._dict_columns(data)
        if isinstance(data, list | tuple) and data and isinstance(data[0], dict):
            return self._records(data)
        if isinstance(data, np.ndarray | list | tuple) or type(data).__module__ == "torch":
            arr = asarray("input", data, None if isinstance(data, np.ndarray) else object)
            if arr.ndim == 1 and arr.shape[0] == self._n:
                arr = arr.reshape(1, self._n)
            if arr.ndim != 2 or arr.shape[1] != self._n:
                raise error("input", [-1, self._n], list(arr.shape))
            return self._coerce_all({n: arr[:, i] for i, n in enumerate(self._names)}, len(arr))
        raise error(
            "input", "a DataFrame, an array, records or a dict of columns", type(data).__name__
        )

    def _missing(self, spec: ColumnSpec, **more: Any) -> InvalidArgumentError:
        message = f"input column {spec.name!r} is missing (expected {spec.dtype})"
        return error(spec.name, spec.dtype, "missing", message, **more)

    def _records(self, records: list[Any] | tuple[Any, ...]) -> tuple[dict[str, Any], int]:
        raw: dict[str, Any] = {}
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise error("input", "a record (object)", type(record).__name__, row=i)
        for spec in self._specs:
            try:
                raw[spec.name] = [r[spec.name] for r in records]
            except KeyError:
                row = next(i for i, r in enumerate(records) if spec.name not in r)
                raise self._missing(spec, row=row) from None
        return self._coerce_all(raw, len(records))

    def _dict_columns(self, data: dict[str, Any]) -> tuple[dict[str, Any], int]:
        raw: dict[str, Any] = {}
        for spec in self._specs:
            if spec.name not in data:
                raise self._missing(spec)
            raw[spec.name] = data[spec.name]
        rows = len(raw[self._names[0]]) if np.ndim(raw[self._names[0]]) else 1
        return self._coerce_all(raw, rows)

    def _coerce_all(self, raw: dict[str, Any], rows: int) -> tuple[dict[str, Any], int]:
        if rows == 0:
            raise error("input", "at least one row", 0)
        out: dict[str, Any] = {}
        for spec, dtype in zip(self._specs, self._dtypes, strict=True):
            values = raw[spec.name]
            if spec.shape is not None:
                arr = self._check_tensor(spec, values, dtype)
            else:
                arr = values if isinstance(values, np.ndarray) else asarray(spec.name, values)
                if arr.ndim != 1:
                    got = f"values of shape {list(arr.shape)}"
                    raise error(spec.name, f"one {spec.dtype} per row", got)
                arr = cast(spec.name, arr, dtype, spec.dtype)
            if len(arr) != rows:
                raise error(spec.name, f"{rows} values", len(arr))
            out[spec.name] = arr
        return out, rows

    def _assemble(self, cols: dict[str, Any], rows: int) -> Any:
        if self.target == "ndarray":
            out = np.empty((rows, self._n), dtype=self._dtype)
            for i, name in enumerate(self._names):
                out[:, i] = cols[name]
            return out
        if self.target == "dataframe":
            import pandas as pd

            return pd.DataFrame(cols)
        if self.target == "records":
            lists = [cols[n].tolist() for n in self._names]
            return [dict(zip(self._names, row, strict=True)) for row in zip(*lists, strict=True)]
        return cols


def _passthrough(data: Any) -> Any:
    return data
