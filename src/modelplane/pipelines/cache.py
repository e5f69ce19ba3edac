"""Step cache keys and the reasons a step hit or missed.

The key is sha256 over the key's parts: the step function's source (or bytecode when the
source cannot be read), its parameters, the digests of its inputs and the package
environment (Python version and the installed distributions with their versions). A key
match is a hit only when every output of the earlier step run still exists in the
artifact store; a deleted output is a miss, reported as such.

Only the step function's own source counts, not helpers it calls: pass
``@step(version=...)`` to invalidate by hand when a helper changes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import sys
from dataclasses import dataclass
from typing import Any

from modelplane.pipelines.dsl import Step

__all__ = ["CacheKey", "cache_key", "environment_digest", "explain_miss", "source_digest"]

KEY_VERSION = "modelplane.step-cache/1"
_env_digest: str | None = None


@dataclass(frozen=True)
class CacheKey:
    key: str
    parts: dict[str, Any]


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def source_digest(step: Step) -> str:
    cached = getattr(step, "_source_digest", None)
    if cached is not None:
        return cached
    fn = inspect.unwrap(step.fn)
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):
        text = _code_text(getattr(fn, "__code__", None))
    digest = _sha(f"{text}\n{step.version or ''}\n{step.output_names}")
    step._source_digest = digest  # type: ignore[attr-defined]
    return digest


def _code_text(code: Any) -> str:
    if code is None:
        return ""
    consts = [(_code_text(c) if inspect.iscode(c) else repr(c)) for c in code.co_consts]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}"


def environment_digest() -> str:
    """Python version plus every ``*.dist-info`` / ``*.egg-info`` name on ``sys.path``
    (names carry versions); cheap (directory listings) and cached per process. A folder
    inside a ``site-packages`` entry is a package's own vendored copy that it put on the
    path when imported (``import ray`` adds ``ray/thirdparty_files``), not the
    environment: counting it would make a step's key depend on what was imported first."""
    global _env_digest
    if _env_digest is None:
        entries = [os.path.abspath(e or ".") for e in sys.path]
        sites = [e for e in entries if os.path.basename(e) in ("site-packages", "dist-packages")]
        names: set[str] = set()
        for entry in entries:
            if any(entry.startswith(site + os.sep) for site in sites):
                continue
            try:
                with os.scandir(entry) as it:
                    names.update(e.name for e in it
                                 if e.name.endswith((".dist-info", ".egg-info")))
            except OSError:
                continue
        basis = [platform.python_implementation(), platform.python_version(), *sorted(names)]
        _env_digest = _sha("\n".join(basis))
    return _env_digest


def param_digest(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError):
        import cloudpickle

        try:
            return _sha(cloudpickle.dumps(value))
        except Exception:
            return _sha(repr(value))
    return _sha(text)


def cache_key(step: Step, params: dict[str, Any], inputs: dict[str, str]) -> CacheKey:
    """The key of running ``step`` with ``params`` on inputs (name -> digest)."""
    parts = {
        "version": KEY_VERSION,
        "source": source_digest(step),
        "params": {k: param_digest(v) for k, v in sorted(params.items())},
        "inputs": dict(sorted(inputs.items())),
        "env": environment_digest(),
    }
    return CacheKey(_sha(json.dumps(parts, sort_keys=True)), parts)


def explain_miss(parts: dict[str, Any], previous: dict[str, Any] | None,
                 previous_params: dict[str, Any] | None = None) -> str:
    """Why ``parts`` missed against the newest earlier run of the same step."""
    if previous is None:
        return "miss: first run of this step"
    reasons = []
    if parts.get("source") != previous.get("source"):
        reasons.append("step source changed")
    old_p, new_p = previous.get("params", {}), parts.get("params", {})
    for key in sorted(set(old_p) | set(new_p)):
        if old_p.get(key) != new_p.get(key):
            was = "" if previous_params is None or key not in previous_params else (
                f" (was {_short(previous_params[key])})")
            reasons.append(f"parameter {key} changed{was}")
    old_i, new_i = previous.get("inputs", {}), parts.get("inputs", {})
    for key in sorted(set(old_i) | set(new_i)):
        if old_i.get(key) != new_i.get(key):
            reasons.append(f"input {key} changed ({str(old_i.get(key))[:12]} -> "
                           f"{str(new_i.get(key))[:12]})")
    if parts.get("env") != previous.get("env"):
        reasons.append("package environment changed")
    if parts.get("version") != previous.get("version"):
        reasons.append("cache format changed")
    return "miss: " + ("; ".join(reasons) if reasons else "no earlier run with this key")


def _short(value: Any) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
