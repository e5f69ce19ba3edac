"""Deployment records: variants and their weights, the canary in progress, events, stats.

Plain frozen dataclasses, built by a :class:`~modelplane.deployments.store.DeploymentStore`
and returned by :class:`~modelplane.deployments.service.DeploymentService`.

A deployment routes the requests for one name to versions of one registered model.
Each :class:`Variant` names what it serves with a *ref*: a version number (``"3"``), an
exclusive stage (``"production"``, ``"staging"``) or an alias (``"@champion"``); stages and
aliases are resolved by every replica on each poll, so a registry promotion moves the
traffic too. Routed variants' weights are percentages that sum to 100; a shadow variant's
weight is the share of requests copied to it (its answers are logged, never returned).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

__all__ = [
    "CANARY_STATUSES",
    "Canary",
    "CanaryGate",
    "Deployment",
    "DeploymentEvent",
    "GateResult",
    "Variant",
    "VariantStats",
]

CANARY_STATUSES = ("running", "succeeded", "rolled_back", "aborted")


@dataclass(frozen=True, slots=True)
class Variant:
    """One route (or shadow) of a deployment: ``name`` is what responses and metrics
    call it (``x-modelplane-variant``), ``ref`` what it serves, ``weight`` a percentage."""

    name: str
    ref: str
    weight: float
    shadow: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        return cls(name=str(data["name"]), ref=str(data["ref"]), weight=float(data["weight"]),
                   shadow=bool(data.get("shadow", False)))


@dataclass(frozen=True, slots=True)
class CanaryGate:
    """A condition every canary step must meet. ``metric`` is ``error_rate``,
    ``latency_p50|p95|p99|mean`` (measured by the serving replicas, all of them) or a
    monitoring metric (drift, labelled performance; read from the prediction log).
    Bounds: ``max``/``min`` on the candidate's value; ``max_ratio`` (candidate / baseline),
    ``max_increase`` (candidate - baseline) and ``max_drop`` (baseline - candidate) against
    the baseline. ``tolerance`` is an absolute slack added to relative bounds (latency
    noise of a few milliseconds should not fail a canary)."""

    metric: str
    max: float | None = None
    min: float | None = None
    max_ratio: float | None = None
    max_increase: float | None = None
    max_drop: float | None = None
    tolerance: float = 0.0

    @property
    def relative(self) -> bool:
        return any(v is not None for v in (self.max_ratio, self.max_increase, self.max_drop))

    def describe(self) -> str:
        bounds = [f"{k}={v:g}" for k in ("max", "min", "max_ratio", "max_increase", "max_drop")
                  if (v := getattr(self, k)) is not None]
        return f"{self.metric}:{','.join(bounds)}"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate checked once: ``status`` pass, fail or no_data; values as measured."""

    gate: str
    status: str
    value: float | None
    baseline: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Canary:
    """A canary of ``version`` (variant ``candidate``) against variant ``baseline``.

    ``steps`` are the candidate's shares of the baseline's original weight
    (``baseline_weight``), e.g. (5, 25, 50, 100); step ``step`` started at
    ``step_started_at`` (epoch seconds) and is held for ``hold_seconds`` and until the
    candidate answered ``hold_requests`` requests in it, then advanced when every gate
    passes. A gate fails as soon as the candidate has ``min_requests`` requests in the
    step; a failure rolls back to the baseline. ``promote_stage``: on success, also move
    the version into this registry stage (default: the baseline's stage, if it names one).
    """

    candidate: str
    baseline: str
    version: int
    steps: tuple[float, ...]
    hold_seconds: float
    hold_requests: int
    min_requests: int
    gates: tuple[CanaryGate, ...]
    baseline_weight: float
    status: str = "running"
    step: int = 0
    started_at: float = 0.0
    step_started_at: float = 0.0
    finished_at: float | None = None
    reason: str = ""
    last_results: tuple[GateResult, ...] = ()
    promote_stage: str | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def weight(self) -> float:
        """The candidate's share of all traffic at the current step."""
        return self.steps[self.step] * self.baseline_weight / 100.0

    def evolve(self, **changes: Any) -> Canary:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = list(self.steps)
        data["gates"] = [g.to_dict() for g in self.gates]
        data["last_results"] = [r.to_dict() for r in self.last_results]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Canary:
        values = dict(data)
        values["steps"] = tuple(float(s) for s in data["steps"])
        values["gates"] = tuple(CanaryGate(**g) for g in data.get("gates", []))
        values["last_results"] = tuple(GateResult(**r) for r in data.get("last_results", []))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True, slots=True)
class Deployment:
    """A named deployment of ``model``. ``revision`` increases with every change;
    ``previous`` holds the variants before the last switch (for ``switch_back``)."""

    id: str
    name: str
    model: str
    variants: tuple[Variant, ...]
    key_field: str | None
    canary: Canary | None
    previous: tuple[Variant, ...] | None
    revision: int
    description: str
    created_at: datetime
    updated_at: datetime

    @property
    def routes(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if not v.shadow)

    @property
    def shadows(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.shadow)

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    def weights(self) -> dict[str, float]:
        return {v.name: v.weight for v in self.routes}

    def evolve(self, **changes: Any) -> Deployment:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "model": self.model,
            "variants": [v.to_dict() for v in self.variants], "key_field": self.key_field,
            "canary": self.canary.to_dict() if self.canary else None,
            "previous": [v.to_dict() for v in self.previous] if self.previous else None,
            "revision": self.revision, "description": self.description,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class DeploymentEvent:
    """One change or decision, appended in commit order: ``kind`` is created, traffic,
    canary_started, canary_advanced, canary_succeeded, canary_rolled_back,
    canary_aborted, promoted, switched, switched_back or stage_refused."""

    id: int
    deployment: str
    kind: str
    actor: str
    reason: str
    detail: dict[str, Any]
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class VariantStats:
    """Requests, errors and latencies of one variant over a window (all replicas).
    ``hist`` maps a latency bucket index (see ``stats.bucket_index``) to a count."""

    n: int = 0
    errors: int = 0
    latency_sum: float = 0.0
    hist: dict[int, int] = field(default_factory=dict)

    def add(self, other: VariantStats) -> None:
        self.n += other.n
        self.errors += other.errors
        self.latency_sum += other.latency_sum
        for k, c in other.hist.items():
            self.hist[k] = self.hist.get(k, 0) + c

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        from modelplane.deployments.stats import quantile

        return {"requests": self.n, "errors": self.errors, "error_rate": self.error_rate,
                "latency_mean": self.latency_sum / self.n if self.n else None,
                "latency_p50": quantile(self.hist, 0.5),
                "latency_p99": quantile(self.hist, 0.99)}
