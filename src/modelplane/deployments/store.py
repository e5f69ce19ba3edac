"""The storage protocol of deployments: what a backend must do, and promise.

:class:`DeploymentStore` is the seam between
:class:`~modelplane.deployments.service.DeploymentService` (validation, routing and canary
rules) and a backend (:class:`~modelplane.deployments.sql.SqlDeploymentStore` on SQLite or
PostgreSQL).

Contract every implementation keeps:

- A missing deployment raises :class:`~modelplane.core.errors.NotFoundError` naming it;
  creating a taken name raises :class:`~modelplane.core.errors.AlreadyExistsError`.
- ``update`` runs the caller's change on the current state inside one transaction that
  holds the deployment's row lock: changes to one deployment never interleave, the
  revision goes up by one, and the change's events are appended in the same commit. A
  change that raises leaves nothing behind.
- ``write_stats`` replaces the given replica's rows (idempotent: a retried write never
  counts twice); ``read_stats`` sums every replica's rows.
- ``acquire_lease`` gives a key to one holder at a time until it expires (or the holder
  renews it); it never blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelplane.deployments.entities import Deployment, DeploymentEvent, VariantStats

__all__ = ["Change", "DeploymentStore", "NewEvent"]


@dataclass(frozen=True)
class NewEvent:
    kind: str
    reason: str = ""
    actor: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


#: ``change(current) -> (new state, events)``; returning None changes nothing.
Change = Callable[[Deployment], tuple[Deployment, list[NewEvent]] | None]


class DeploymentStore(Protocol):
    """Persistence of deployments, their events, shared stats, leases and eval gates."""

    def create(self, deployment: Deployment, event: NewEvent) -> Deployment: ...

    def get(self, name: str) -> Deployment: ...

    def list_deployments(self) -> list[Deployment]:
        """Every deployment, by name."""
        ...

    def update(self, name: str, change: Change) -> Deployment:
        """Apply ``change`` under the row lock (see the module docstring); returns the
        state after it."""
        ...

    def delete(self, name: str) -> None:
        """Delete the deployment with its events and stats."""
        ...

    def events(self, name: str, *, limit: int = 100) -> list[DeploymentEvent]:
        """The newest ``limit`` events, oldest first."""
        ...

    def write_stats(self, replica: str, rows: Sequence[tuple[str, str, int, int,
                                                             VariantStats]]) -> None:
        """Replace ``replica``'s rows ``(deployment, variant, version, bucket, stats)``."""
        ...

    def read_stats(self, deployment: str, since: int) -> list[tuple[str, int, VariantStats]]:
        """``(variant, version, stats)`` summed over replicas and buckets >= ``since``."""
        ...

    def read_stats_series(self, deployment: str, since: int, step: int
                          ) -> list[tuple[int, str, VariantStats]]:
        """``(interval start, variant, stats)`` summed over replicas per ``step``-second
        interval (aligned on multiples of ``step``) for buckets >= ``since``."""
        ...

    def delete_stats_before(self, bucket: int) -> int: ...

    def acquire_lease(self, key: str, holder: str, ttl_s: float) -> bool: ...

    def put_eval_gates(self, model: str, config: dict[str, Any] | None) -> None:
        """Set (or with None remove) a model's evaluation gates."""
        ...

    def get_eval_gates(self, model: str) -> dict[str, Any] | None: ...
