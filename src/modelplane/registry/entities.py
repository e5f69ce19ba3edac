"""Registry records: registered models, their versions, and the audit log of transitions.

Plain frozen dataclasses, built by a :class:`~modelplane.registry.store.RegistryStore` and
returned by :class:`~modelplane.registry.service.RegistryService`. Times are aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

__all__ = [
    "DEFAULT_STAGE",
    "EXCLUSIVE_STAGES",
    "STAGES",
    "AuditEntry",
    "Deletion",
    "ModelVersion",
    "Page",
    "RegisteredModel",
]

T = TypeVar("T")

#: Every stage a version can be in, in lifecycle order.
STAGES = ("development", "staging", "production", "archived")
#: Stages held by at most one version of a model at a time.
EXCLUSIVE_STAGES = ("staging", "production")
DEFAULT_STAGE = "development"
#: The reserved model tag holding the admin's "load this model's pickles" setting; only
#: ``RegistryService.set_allow_pickle`` writes it.
ALLOW_PICKLE_TAG = "modelplane.allow_pickle"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model; ``aliases`` maps each alias to the version it points at."""

    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    latest_version: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)

    @property
    def allow_pickle(self) -> bool:
        """Whether an admin allowed this model's pickle-stored versions to be loaded."""
        return self.tags.get(ALLOW_PICKLE_TAG) == "true"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version: the artifact, its flavor, lineage and lifecycle state.

    ``metrics`` and ``datasets`` are snapshots taken at registration (the run's final
    metrics, the datasets it used; a NaN or infinite metric is kept as None);
    ``model_meta`` is what the flavor recorded.
    """

    id: str
    name: str
    version: int
    stage: str
    description: str
    artifact_digest: str
    flavor: str
    size: int
    run_id: str | None
    signature: dict[str, Any] | None
    input_example: Any
    metrics: dict[str, float | None]
    datasets: list[dict[str, Any]]
    model_meta: dict[str, Any]
    code_commit: str | None
    code_dirty: bool | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """``models:/NAME:VERSION``, the URI that always names exactly this version."""
        return f"models:/{self.name}:{self.version}"

    @property
    def pickled(self) -> bool:
        """Whether the version is stored as a pickle (loading it runs code, so it needs the
        opt-in). Shown, not enforced: the loader decides from the files it reads. Versions
        saved before the flavors recorded it: scikit-learn estimators and LightGBM wrappers
        were pickles; python-flavor ones always are."""
        recorded = self.model_meta.get("pickled")
        if self.flavor == "python":  # always, whatever model_meta claims
            return True
        if recorded is not None:
            return bool(recorded)
        extra = self.model_meta.get("extra") or {}
        return self.flavor in ("python", "sklearn") or (
            self.flavor == "lightgbm" and extra.get("wrapper") != "Booster")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        data["pickled"] = self.pickled
        return data


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One transition, appended in commit order per model.

    ``action`` is ``create``, ``stage``, ``rollback``, ``alias``, ``alias_delete`` or
    ``delete``. For stage moves (``stage``, ``rollback``) ``field`` is the stage entered,
    ``from_value``/``to_value`` the version's old and new stage and ``displaced_version``
    the previous holder of an exclusive stage (archived by the move). For alias changes
    ``field`` is the alias and ``from_value``/``to_value`` the old and new version numbers.
    """

    id: int
    model_name: str
    version: int | None
    action: str
    field: str | None
    from_value: str | None
    to_value: str | None
    displaced_version: int | None
    actor: str
    reason: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Deletion:
    """What a delete removed: artifact digests no version references any more, and (only
    when there are such digests) every digest still referenced, so the caller can keep
    file blobs that surviving artifact trees share."""

    orphaned_digests: tuple[str, ...] = ()
    live_digests: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; pass ``next_page_token`` back for the next (None: no more)."""

    items: list[T]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
