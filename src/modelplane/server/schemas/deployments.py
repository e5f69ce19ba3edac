"""API schemas of deployments (``/api/v1/deployments/...``, ``/api/v1/eval-gates/...``).

Routes and shadows are passed through as given (``{"production": 90, "staging": 10}``,
``["a:3=50", "b:4=50"]`` or ``[{"name", "ref", "weight"}]``): the service checks them and
names the field in its error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AbortCreate", "CanaryCreate", "DeploymentCreate", "DeploymentListOut", "DeploymentOut",
    "EvalGatesCreate", "EvalGatesOut", "EventListOut", "EventOut", "PromoteCreate",
    "StatsOut", "SwitchCreate", "TickOut", "TrafficUpdate",
]

Routes = dict[str, float] | list[Any] | str


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DeploymentCreate(_In):
    name: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=256)
    routes: Routes | None = None
    shadows: Routes | None = None
    key_field: str | None = Field(default=None, max_length=256)
    description: str = ""
    actor: str = Field(default="", max_length=128)


class TrafficUpdate(_In):
    routes: Routes
    shadows: Routes | None = None
    key_field: str | None = Field(default=None, max_length=256)
    actor: str = Field(default="", max_length=128)
    reason: str = ""


class CanaryCreate(_In):
    version: int | str
    baseline: str | None = None
    steps: list[float] | str = [5, 25, 50, 100]
    hold: str | float = "60s"
    hold_requests: int = Field(default=0, ge=0)
    min_requests: int = Field(default=20, ge=0)
    gates: list[Any] | None = None
    variant: str = "canary"
    promote_stage: str | None = None
    actor: str = Field(default="", max_length=128)


class PromoteCreate(_In):
    variant: str | None = None
    actor: str = Field(default="", max_length=128)
    reason: str = ""


class AbortCreate(_In):
    actor: str = Field(default="", max_length=128)
    reason: str = ""


class SwitchCreate(_In):
    to: str | None = None
    actor: str = Field(default="", max_length=128)
    reason: str = ""


class DeploymentOut(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    id: str
    name: str
    model: str
    variants: list[dict[str, Any]]
    key_field: str | None
    canary: dict[str, Any] | None
    previous: list[dict[str, Any]] | None
    revision: int
    description: str
    created_at: datetime
    updated_at: datetime
    versions: dict[str, int | None] = {}


class DeploymentListOut(BaseModel):
    deployments: list[DeploymentOut]


class EventOut(BaseModel):
    id: int
    deployment: str
    kind: str
    actor: str
    reason: str
    detail: dict[str, Any]
    at: datetime


class EventListOut(BaseModel):
    events: list[EventOut]


class StatsOut(BaseModel):
    deployment: str
    window: str
    variants: dict[str, dict[str, Any]]


class TickOut(BaseModel):
    action: str | None
    reason: str
    gates: list[dict[str, Any]] = []


class EvalGatesCreate(_In):
    gates: list[Any]
    dataset: str = Field(min_length=1)
    target: str = "target"
    stages: list[str] = ["staging", "production"]


class EvalGatesOut(BaseModel):
    model: str
    gates: list[dict[str, Any]]
    dataset: str
    target: str
    stages: list[str]
