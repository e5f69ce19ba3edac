"""Training pipelines: ``@step`` / ``@pipeline``, typed artifacts by digest, cache, retries,
resume, fan-out (``step.map``), executors (in-process, subprocess pool, torchrun, Ray),
schedules, triggers and gates.

Light to import: the DSL only; the store, executors and torch load when a run starts.
"""

from __future__ import annotations

from typing import Any

from modelplane.pipelines.dsl import (
    Pipeline,
    Ray,
    Step,
    StepOutput,
    Torchrun,
    TrainingPipeline,
    pipeline,
    step,
)

__all__ = ["Gate", "Pipeline", "Ray", "Step", "StepOutput", "Torchrun", "TrainingPipeline",
           "current", "partitions", "pipeline", "register", "step", "trigger"]


def __getattr__(name: str) -> Any:
    if name == "current":
        from modelplane.pipelines.executors.base import current

        return current
    if name in ("register", "Gate"):
        from modelplane.pipelines import gates

        return getattr(gates, name)
    if name == "partitions":
        from modelplane.pipelines.fanout import partitions

        return partitions
    if name == "trigger":
        from modelplane.pipelines.schedule import trigger

        return trigger
    raise AttributeError(f"module 'modelplane.pipelines' has no attribute {name!r}")
