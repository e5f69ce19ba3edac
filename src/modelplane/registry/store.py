"""The storage protocol of the model registry: what a backend must do, and promise.

:class:`RegistryStore` is the seam between :class:`~modelplane.registry.service.RegistryService`
(validation, URIs, pagination tokens, artifact clean-up) and a backend
(:class:`~modelplane.registry.sql.SqlRegistryStore` on SQLite or PostgreSQL).

Contract every implementation keeps:

- Names arrive validated; the store never re-checks their syntax.
- A missing model raises :class:`~modelplane.core.errors.NotFoundError` naming it (with
  close names in ``details["suggestions"]``); a missing version, alias, tag or stage
  holder raises ``NotFoundError`` naming both the model and the missing thing.
- Every write is one transaction: it happens completely or not at all.
- Writes to one model are serialised (the model row is locked first), so the audit log
  of a model is in commit order and read-modify-write steps cannot interleave.
- Version numbers are 1, 2, 3... per model, allocated in the write transaction: no gap
  and no duplicate under any concurrency (a deleted version's number is not reused).
- ``staging`` and ``production`` hold at most one version each; moving a version there
  archives the previous holder in the same transaction, so no reader ever sees two
  holders, or none between a replace.
- Every version creation, stage move, rollback, alias change and deletion appends one
  :class:`~modelplane.registry.entities.AuditEntry`; no-op moves append nothing.
- Reads never take the write lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelplane.core.filters import Expr, Field, FilterSchema
from modelplane.registry.entities import AuditEntry, Deletion, ModelVersion, RegisteredModel

__all__ = ["MODEL_FILTER", "VERSION_FILTER", "RegistryStore", "VersionSpec"]

#: What ``search_versions`` filters and sorts on.
VERSION_FILTER = FilterSchema(
    keyed={"tags": "string", "metrics": "number"},
    attributes={"name": "string", "version": "number", "stage": "string", "flavor": "string",
                "run_id": "string", "created_at": "time", "updated_at": "time",
                "description": "string"},
)
#: What ``search_models`` filters on.
MODEL_FILTER = FilterSchema(
    keyed={"tags": "string"},
    attributes={"name": "string", "description": "string", "created_at": "time",
                "updated_at": "time"},
)


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """Everything recorded with a new version (validated by the service)."""

    artifact_digest: str
    flavor: str
    size: int = 0
    run_id: str | None = None
    signature: dict[str, Any] | None = None
    input_example: Any = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    model_meta: dict[str, Any] = field(default_factory=dict)
    code_commit: str | None = None
    code_dirty: bool | None = None
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    actor: str = ""


class RegistryStore(Protocol):
    """Persistence of registered models, versions, stages, aliases and the audit log."""

    def create_model(self, name: str, *, description: str = "",
                     tags: Mapping[str, str] | None = None) -> RegisteredModel:
        """Create a model; ``AlreadyExistsError`` when the name is taken."""
        ...

    def get_model(self, name: str) -> RegisteredModel: ...

    def search_models(self, where: Expr | None, *, limit: int,
                      offset: int = 0) -> list[RegisteredModel]:
        """Models matching ``where`` (attributes ``name``, ``created_at``, ``updated_at``;
        ``tags.<key>``), ordered by name."""
        ...

    def update_model(self, name: str, *, description: str | None = None,
                     set_tags: Mapping[str, str] | None = None,
                     delete_tags: Sequence[str] = ()) -> RegisteredModel:
        """Change the description and tags; deleting a missing tag is ``NotFoundError``."""
        ...

    def delete_model(self, name: str, *, actor: str = "") -> Deletion:
        """Delete the model with its versions, tags and aliases."""
        ...

    def create_version(self, name: str, spec: VersionSpec) -> ModelVersion:
        """Register the next version of ``name`` (creating the model if needed), in
        stage ``development``."""
        ...

    def get_version(self, name: str, *, version: int | None = None, alias: str | None = None,
                    stage: str | None = None) -> ModelVersion:
        """The version by number, by alias, or the newest version in ``stage``."""
        ...

    def search_versions(self, where: Expr | None, order_by: Sequence[tuple[Field, bool]], *,
                        limit: int, offset: int = 0) -> list[ModelVersion]:
        """Versions matching ``where`` (attributes ``name``, ``version``, ``stage``,
        ``flavor``, ``run_id``, ``created_at``; ``tags.<key>``; ``metrics.<key>``),
        in ``order_by`` order, then by name and newest version first."""
        ...

    def update_version(self, name: str, version: int, *, description: str | None = None,
                       set_tags: Mapping[str, str] | None = None,
                       delete_tags: Sequence[str] = ()) -> ModelVersion: ...

    def delete_version(self, name: str, version: int, *, force: bool = False,
                       actor: str = "") -> Deletion:
        """Delete one version (its tags and aliases go with it). A version in production
        is refused with ``InvalidStateError`` unless ``force``."""
        ...

    def set_stage(self, name: str, version: int, stage: str, *, actor: str = "",
                  reason: str = "") -> ModelVersion:
        """Move a version to ``stage``, archiving the previous holder of an exclusive one."""
        ...

    def rollback(self, name: str, stage: str, *, actor: str = "",
                 reason: str = "") -> ModelVersion:
        """Put the previous holder of ``stage`` back, from the audit log: entries into the
        stage push their version on a stack, rollbacks pop to their target; the target is
        the nearest version below the top that still exists and is not the top.
        ``InvalidStateError`` when there is none."""
        ...

    def set_alias(self, name: str, alias: str, version: int | None, *,
                  actor: str = "") -> None:
        """Point ``alias`` at ``version``; ``None`` deletes it (``NotFoundError`` if absent)."""
        ...

    def history(self, name: str, *, version: int | None = None,
                limit: int | None = None) -> list[AuditEntry]:
        """The audit log of ``name`` oldest first (the newest ``limit`` entries), or of one
        version (entries about it, including its displacement from a stage)."""
        ...
