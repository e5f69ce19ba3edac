"""Input checks of the registry: every bad value becomes an InvalidArgumentError that
names the field and says what is expected (routes, CLI and Python API share them)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.registry.entities import EXCLUSIVE_STAGES, STAGES

__all__ = ["check_digest", "check_json", "check_max_results", "check_metrics",
           "check_optional_text", "check_stage", "check_tag_key", "check_tags", "check_text",
           "check_version", "decode_page_token", "encode_page_token"]

MAX_RESULTS_LIMIT = 1000
_HEX = frozenset("0123456789abcdef")


def _fail(field: str, message: str, **details: Any) -> InvalidArgumentError:
    return InvalidArgumentError(f"{field}: {message}", details={"field": field, **details})


def check_version(version: object, field: str = "version") -> int:
    """A positive version number (digit strings are accepted)."""
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _fail(field, f"expected a positive integer, got {version!r}")
    return version


def check_stage(stage: object, *, exclusive: bool = False) -> str:
    """A stage name (case-insensitive); ``exclusive`` allows only staging/production."""
    allowed = EXCLUSIVE_STAGES if exclusive else STAGES
    if not isinstance(stage, str) or stage.lower() not in allowed:
        raise InvalidArgumentError(
            f"invalid stage {stage!r}: expected one of {', '.join(allowed)}",
            details={"field": "stage", "allowed": list(allowed)})
    return stage.lower()


def check_text(value: object, field: str, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise _fail(field, f"expected text, got {type(value).__name__}")
    if max_length is not None and len(value) > max_length:
        raise _fail(field, f"longer than {max_length} characters", max_length=max_length)
    return value


def check_optional_text(value: object, field: str, max_length: int) -> str | None:
    return None if value is None else check_text(value, field, max_length)


def check_tag_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > 256:
        raise _fail("tags", f"tag key {key!r} must be 1-256 characters of text")
    return key


def check_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Tags as ``{str: str}``; numbers and booleans become their text."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise _fail("tags", f"expected a mapping of key to value, got {type(tags).__name__}")
    out: dict[str, str] = {}
    for key, value in tags.items():
        check_tag_key(key)
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        if not isinstance(value, str):
            raise _fail("tags", f"value of tag {key!r} must be text, got "
                        f"{type(value).__name__}", key=key)
        out[key] = value
    return out


def check_digest(digest: object) -> str:
    if not isinstance(digest, str) or len(digest) != 64 or not _HEX.issuperset(digest):
        raise _fail("artifact_digest", f"expected 64 lowercase hex characters (a sha256 "
                    f"digest), got {str(digest)[:80]!r}")
    return digest


def check_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float | None]:
    """Numbers by metric name; NaN and infinities (which JSON cannot hold) become None."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise _fail("metrics", f"expected a mapping of name to number, got "
                    f"{type(metrics).__name__}")
    out: dict[str, float | None] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key or len(key) > 256:
            raise _fail("metrics", f"metric name {key!r} must be 1-256 characters of text")
        if value is None:
            out[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail("metrics", f"metric {key!r} must be a number, got {value!r}", key=key)
        out[key] = float(value) if math.isfinite(value) else None
    return out


def check_json(value: Any, field: str, kind: type | None = None) -> Any:
    """``value`` if it is JSON (of ``kind`` when given): stored as such, so checked here."""
    if kind is not None and not isinstance(value, kind):
        raise _fail(field, f"expected a JSON {'object' if kind is dict else 'array'}, got "
                    f"{type(value).__name__}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _fail(field, f"not JSON-serialisable: {exc}") from None
    return value


def check_max_results(max_results: object) -> int:
    if (isinstance(max_results, bool) or not isinstance(max_results, int)
            or not 1 <= max_results <= MAX_RESULTS_LIMIT):
        raise _fail("max_results", f"expected 1 to {MAX_RESULTS_LIMIT}, got {max_results!r}")
    return max_results


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_page_token(token: str | None) -> int:
    """The offset in ``token`` (0 for none); a token not made here is refused."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = data["o"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset = None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise _fail("page_token", "not a page token returned by a previous call")
    return offset
