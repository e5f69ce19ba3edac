"""Value-level input rules: which values a signature dtype accepts, and the conversion.

- Where a float is expected, ints and bools are accepted (cast) and numeric strings
  ("1.5") are parsed; any other string is rejected; None/NaN mean missing (NaN).
- Where an int is expected, a float is accepted only when integral (2.0 -> 2); missing
  values are rejected. Where a bool is expected: bools, or numbers equal to 0 or 1.
- A ``string`` column takes any value; non-strings are converted with ``str()``, and
  missing values stay missing.

Every rejection is an ``InvalidArgumentError`` with details
``{"field": <column or "input">, "expected": <dtype or shape>, "got": <what came>}``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from modelplane.core.errors import InvalidArgumentError

__all__ = ["asarray", "cast", "describe", "error", "is_missing", "spec_dtype"]

_NUMERIC = "biuf"


def spec_dtype(dtype: str) -> np.dtype[Any]:
    """The numpy dtype that carries a signature dtype (``string`` -> object)."""
    if dtype == "string":
        return np.dtype(object)
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(object)


def error(
    field: str, expected: Any, got: Any, message: str | None = None, **more: Any
) -> InvalidArgumentError:
    """The validation error: details name the field, what was expected and what came."""
    where = "input" if field == "input" else f"input column {field!r}"
    text = message or f"{where}: expected {expected}, got {got}"
    return InvalidArgumentError(
        text, details={"field": field, "expected": expected, "got": got, **more}
    )


def describe(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return f"{type(value).__name__} {value!r}"[:80]


def is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and value is pandas.NA


def asarray(field: str, values: Any, dtype: Any = None) -> np.ndarray[Any, Any]:
    if type(values).__module__ == "torch":
        values = values.detach().cpu().numpy()
    try:
        return np.asarray(values, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise error(field, "a rectangular array", f"ragged or mixed values ({exc})") from exc


def _parse_floats(field: str, arr: np.ndarray[Any, Any], expected: str) -> np.ndarray[Any, Any]:
    try:
        return arr.astype(np.float64)
    except (ValueError, TypeError):
        flat = arr.ravel()
        out = np.empty(flat.shape, dtype=np.float64)
        for i, value in enumerate(flat):
            if is_missing(value):
                out[i] = np.nan
                continue
            if isinstance(value, str | int | float | np.number | np.bool_):
                try:
                    out[i] = float(value)
                    continue
                except (ValueError, TypeError, OverflowError):
                    pass
            raise error(field, expected, describe(value), row=i) from None
        return out.reshape(arr.shape)


def _as_strings(arr: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out = arr.astype(object)
    if arr.dtype.kind in "US":
        return out
    flat = out.reshape(-1)
    for i, value in enumerate(flat):
        if not isinstance(value, str) and not is_missing(value):
            flat[i] = str(value)
    return out


def cast(field: str, arr: np.ndarray[Any, Any], dtype: np.dtype[Any], expected: str) -> Any:
    """Cast ``arr`` to ``dtype`` under the rules above; ``expected`` names the dtype."""
    if arr.dtype == dtype:
        return arr
    src, dst = arr.dtype.kind, dtype.kind
    if dst == "f":
        return arr.astype(dtype) if src in _NUMERIC else _parse_floats(field, arr, expected)
    if dst in "iu":
        if src in "biu":
            return arr.astype(dtype)
        floats = arr if src == "f" else _parse_floats(field, arr, expected)
        bad = ~np.isfinite(floats) | (floats != np.trunc(floats))
        if bad.any():
            got = floats[bad].ravel()[0].item()
            raise error(field, expected, "missing value" if got != got else f"float {got!r}")
        return floats.astype(dtype)
    if dst == "b":
        if src in "iuf" and np.isin(arr, (0, 1)).all():
            return arr.astype(bool)
        raise error(field, expected, f"{arr.dtype} values")
    if dst == "O":
        return _as_strings(arr)
    try:
        return arr.astype(dtype)
    except (ValueError, TypeError) as exc:
        raise error(field, expected, f"{arr.dtype} values ({exc})") from exc
