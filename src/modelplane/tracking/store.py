"""The tracking storage protocol: what any tracking backend must do.

One implementation today, :class:`~modelplane.tracking.sql.SqlTrackingStore` (SQLite and
PostgreSQL). Methods validate nothing a service already validated; they make each call
atomic (all of a batch or none of it) and raise the modelplane error tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.core.filters import Expr, Field
from modelplane.tracking.entities import DatasetRecord, Experiment, Metric, Run, RunArtifact

if TYPE_CHECKING:
    from modelplane.tracking.history import MetricSeries
    from modelplane.tracking.paging import Cursor

__all__ = ["TrackingStore"]


class TrackingStore(Protocol):
    def create_experiment(self, name: str, description: str, tags: dict[str, str]) -> Experiment:
        """Create an experiment; a taken name raises AlreadyExistsError."""
        ...

    def get_experiment(self, id_or_name: str) -> Experiment:
        """By id or name (deleted ones too); NotFoundError when neither matches."""
        ...

    def list_experiments(self, *, include_deleted: bool = False) -> list[Experiment]: ...

    def update_experiment(self, experiment_id: str, **changes: Any) -> Experiment:
        """Change ``name``, ``description``, ``tags`` or ``lifecycle``."""
        ...

    def create_run(self, run: Run) -> Run: ...

    def get_run(self, run_id: str) -> Run:
        """The run with params, tags and latest metrics; NotFoundError if unknown."""
        ...

    def update_run(self, run_id: str, **changes: Any) -> Run:
        """Change ``status``, ``end_time``, ``name`` or ``lifecycle``."""
        ...

    def log_batch(self, run_id: str, metric_rows: Sequence[tuple[str, str, float, int, int]],
                  params: dict[str, str], tags: dict[str, str]) -> None:
        """Write ``(run_id, key, value, step, epoch_ms)`` rows, params and tags in one
        transaction. A param already set to another value raises
        InvalidStateError (409) and nothing of the batch is written."""
        ...

    def metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    def search_runs(self, experiment_ids: Sequence[str] | None, where: Expr | None,
                    order_by: Sequence[tuple[Field, bool]], limit: int, offset: int,
                    include_deleted: bool = False) -> list[Run]: ...

    def metric_series(self, run_id: str, key: str, max_points: int) -> MetricSeries:
        """At most about ``max_points`` points of a history: raw, or min/max buckets."""
        ...

    def metric_series_many(self, run_ids: list[str], key: str,
                           max_points: int) -> dict[str, MetricSeries]:
        """:meth:`metric_series` of several runs (those having ``key``), by run id."""
        ...

    def metric_page(self, run_id: str, key: str, from_step: int,
                    limit: int) -> list[tuple[int, float, int]]:
        """Up to ``limit`` points ``(step, value, epoch_ms)`` from ``from_step``, by step."""
        ...

    def search_page(self, experiment_ids: Sequence[str] | None, where: Expr | None,
                    order_by: Sequence[tuple[Field, bool]], limit: int, cursor: Cursor,
                    include_deleted: bool = False) -> tuple[list[Run], Cursor | None]:
        """Up to ``limit`` runs from ``cursor`` and the next page's cursor (None: last)."""
        ...

    def add_artifact(self, run_id: str, artifact: RunArtifact) -> None: ...

    def list_artifacts(self, run_id: str) -> list[RunArtifact]: ...

    def artifact_digests(self) -> list[tuple[str, bool]]:
        """Every distinct ``(digest, is_dir)`` recorded as a run artifact."""
        ...

    def link_dataset(self, run_id: str, record: DatasetRecord, role: str) -> DatasetRecord:
        """Store the dataset once per digest and link it to the run under ``role``."""
        ...

    def run_datasets(self, run_id: str) -> list[DatasetRecord]: ...

    def heartbeat(self, run_ids: list[str]) -> None:
        """Refresh the heartbeat of these runs (those still running)."""

    def fail_stale_heartbeats(self, stale_seconds: float) -> list[str]:
        """Mark failed the running runs whose heartbeat stopped; their ids."""

    def running_runs(self, older_than: datetime | None = None) -> list[Run]: ...
