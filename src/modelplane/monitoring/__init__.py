"""Monitoring: the prediction log, reference profiles, delayed labels, incremental drift,
serving health, alert rules and their actions, reports.

Submodules import numpy and SciPy; this package's ``__init__`` imports nothing heavy, so
``from modelplane.monitoring import PredictionLogger`` stays cheap for a serving process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.monitoring.actions import ActionContext, ActionRegistry
    from modelplane.monitoring.alerts import Alert, Rule
    from modelplane.monitoring.drift import DriftOptions, DriftResult
    from modelplane.monitoring.entities import DriftReport, LabelResult, LoggedPrediction
    from modelplane.monitoring.health import HealthReport
    from modelplane.monitoring.performance import PerformanceReport
    from modelplane.monitoring.predlog.logger import PredictionLogger, PredictionSink
    from modelplane.monitoring.predlog.records import PredictionRecord
    from modelplane.monitoring.profiles import Reference
    from modelplane.monitoring.raw import compare
    from modelplane.monitoring.service import MonitoringService
    from modelplane.monitoring.windows import Window

__all__ = [
    "ActionContext", "ActionRegistry", "Alert", "DriftOptions", "DriftReport", "DriftResult",
    "HealthReport", "LabelResult", "LoggedPrediction", "MonitoringService", "PerformanceReport",
    "PredictionLogger", "PredictionRecord", "PredictionSink", "Reference", "Rule", "Window",
    "compare",
]

_LAZY = {
    "ActionContext": "actions", "ActionRegistry": "actions", "Alert": "alerts",
    "Rule": "alerts",
    "DriftOptions": "drift", "DriftResult": "drift", "compare": "raw",
    "DriftReport": "entities", "LabelResult": "entities", "HealthReport": "health",
    "LoggedPrediction": "entities",
    "PredictionLogger": "predlog.logger", "PredictionRecord": "predlog.records",
    "PredictionSink": "predlog.logger",
    "PerformanceReport": "performance", "Reference": "profiles",
    "MonitoringService": "service", "Window": "windows",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelplane.monitoring' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"modelplane.monitoring.{module}"), name)
    globals()[name] = value
    return value
