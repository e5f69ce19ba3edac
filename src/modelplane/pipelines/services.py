"""What a running step may use of the platform: :class:`StepServices`.

The executor that runs a step binds them (``current.services`` inside the step): the
in-process executor gets them from its :class:`~modelplane.pipelines.service.PipelineService`,
a subprocess or torchrun worker builds its own from the settings it is sent
(``modelplane.workers``). ``current.run`` and the gated ``register`` step use them; a
step never finds the platform through a global.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.pipelines.store import PipelineRunStore
    from modelplane.registry.logmodel import ModelLogger
    from modelplane.registry.models import ModelFiles
    from modelplane.registry.service import RegistryService
    from modelplane.tracking.run import ActiveRun
    from modelplane.tracking.service import TrackingService

__all__ = ["StepServices"]


@dataclass(frozen=True)
class StepServices:
    """Tracking (a step's run), the registry, verified model files, model logging, the
    pipeline run store (to link registered versions to the step that made them) and the
    artifact store steps' inputs and outputs live in."""

    artifacts: ArtifactStore
    tracking: TrackingService
    registry: RegistryService
    models: ModelFiles
    model_logger: ModelLogger
    run_store: PipelineRunStore

    def start_run(self, experiment: str, *, name: str | None = None,
                  tags: dict[str, Any] | None = None) -> ActiveRun:
        from modelplane.tracking.run import ActiveRun

        run = self.tracking.start_run(experiment, name=name, tags=tags)
        return ActiveRun(self.tracking, run, model_logger=self.model_logger.log_model)
