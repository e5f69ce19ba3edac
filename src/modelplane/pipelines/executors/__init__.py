"""Executors: in-process (default), a subprocess pool, and torchrun for distributed steps."""

from modelplane.pipelines.executors.base import Executor, StepResult, StepTask, current

__all__ = ["Executor", "LocalExecutor", "StepResult", "StepTask", "SubprocessExecutor",
           "current"]


def __getattr__(name: str) -> object:
    if name == "LocalExecutor":
        from modelplane.pipelines.executors.local import LocalExecutor

        return LocalExecutor
    if name == "SubprocessExecutor":
        from modelplane.pipelines.executors.subprocess import SubprocessExecutor

        return SubprocessExecutor
    raise AttributeError(name)
