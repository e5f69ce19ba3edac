"""Fast JSON for the serving hot path: orjson (numpy arrays serialised natively), with the
standard library as a fallback. ``dumps`` returns bytes; NaN and infinity become null."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["JSONDecodeError", "dumps", "loads"]


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays orjson does not take (object, strided)
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


try:
    import orjson

    JSONDecodeError: type[ValueError] = orjson.JSONDecodeError
    loads = orjson.loads
    _OPTIONS = orjson.OPT_SERIALIZE_NUMPY

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value, default=_default, option=_OPTIONS)

except ImportError:  # pragma: no cover - orjson is a dependency; this keeps odd installs up
    import json

    JSONDecodeError = json.JSONDecodeError

    def loads(data: bytes | str) -> Any:  # type: ignore[misc]
        return json.loads(data)

    def _finite(value: Any) -> Any:
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, dict):
            return {k: _finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [_finite(v) for v in value]
        if hasattr(value, "tolist"):
            return _finite(value.tolist())
        return value

    def dumps(value: Any) -> bytes:
        return json.dumps(_finite(value), default=_default, separators=(",", ":")).encode()
