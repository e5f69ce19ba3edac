"""The in-process executor (the default): each step runs in this process, in order.

Nothing to start and no serialisation of the function, so a step's overhead is the
cache lookup, storing its outputs and two small transactions. A step with a ``timeout``
is interrupted by SIGALRM when the pipeline runs on the main thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from modelplane.pipelines.executors.base import StepResult, StepTask, completed, execute_task

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.pipelines.services import StepServices

__all__ = ["LocalExecutor"]


class LocalExecutor:
    name = "local"
    slots = 1

    def __init__(self, store: ArtifactStore | None = None) -> None:
        self.store = store
        self.services: Callable[[], StepServices] | None = None

    def bind(self, store: ArtifactStore,
             services: Callable[[], StepServices] | None = None) -> LocalExecutor:
        self.store = self.store or store
        self.services = services
        return self

    def submit(self, task: StepTask) -> Future[StepResult]:
        if self.store is None:
            raise RuntimeError("bind() the executor to an artifact store first")
        return completed(execute_task(task, self.store, services=self.services,
                                      timeout=task.step.timeout))

    def close(self) -> None:
        pass
