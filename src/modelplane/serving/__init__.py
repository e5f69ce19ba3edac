"""Serving: the model runtime (load by URI, verify, warm up, hot swap), dynamic batching,
the prediction cache, Open Inference Protocol translation, Prometheus metrics, batch
inference over Parquet and ONNX int8 optimization.

Nothing heavy is imported here; the names below load their modules on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DynamicBatcher",
    "ModelRuntime",
    "PredictionCache",
    "ServeSpec",
    "optimize_model",
    "predict_file",
]

_LAZY = {
    "DynamicBatcher": "modelplane.serving.batching",
    "ModelRuntime": "modelplane.serving.runtime",
    "PredictionCache": "modelplane.serving.cache",
    "ServeSpec": "modelplane.serving.runtime",
    "optimize_model": "modelplane.serving.optimize",
    "predict_file": "modelplane.serving.batch",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelplane.serving' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
