"""``RemoteDeployments``: a remote client's deployments, through ``/api/v1/deployments``.

Deployments are changed by the server, not stored by the client: every change is a
check-and-write under the deployment's row lock (see
:class:`~modelplane.deployments.store.DeploymentStore`), whose change function cannot
travel over HTTP, and routing stats and canary leases belong to the serving replicas.
So the remote seam is the service's own surface (:class:`DeploymentOperations`, the
methods of :class:`~modelplane.deployments.service.DeploymentService` a user, the CLI and
the UI call), each method one request; the server's service validates and answers with
the same records and the same errors as an embedded call.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.deployments.entities import (
    Canary,
    Deployment,
    DeploymentEvent,
    GateResult,
    Variant,
    VariantStats,
)
from modelplane.remote.http import RemoteTransport, segment

if TYPE_CHECKING:
    from modelplane.deployments.canary import Decision
    from modelplane.registry.entities import ModelVersion
    from modelplane.registry.service import RegistryService

__all__ = ["DeploymentOperations", "RemoteDeployments"]


class DeploymentOperations(Protocol):
    """What callers do with deployments; :class:`DeploymentService` (embedded) and
    :class:`RemoteDeployments` (remote) both satisfy it."""

    def get(self, name: str) -> Deployment: ...

    def list(self) -> builtins.list[Deployment]: ...

    def events(self, name: str, *, limit: int = 100) -> builtins.list[DeploymentEvent]: ...

    def resolve_one(self, deployment: Deployment, variant: Variant) -> int: ...

    def stats(self, name: str, window: str | float = "5m") -> dict[str, VariantStats]: ...

    def create(self, name: str, model: str, routes: Any = None, *, shadows: Any = None,
               key_field: str | None = None, description: str = "",
               actor: str = "") -> Deployment: ...

    def set_traffic(self, name: str, routes: Any, *, shadows: Any = None,
                    key_field: str | None = None, actor: str = "",
                    reason: str = "") -> Deployment: ...

    def delete(self, name: str, *, actor: str = "") -> None: ...

    def switch(self, name: str, to: str, *, actor: str = "", reason: str = "") -> Deployment:
        ...

    def switch_back(self, name: str, *, actor: str = "", reason: str = "") -> Deployment: ...

    def promote(self, name: str, variant: str | None = None, *, actor: str = "",
                reason: str = "") -> Deployment: ...

    def abort(self, name: str, *, reason: str = "", actor: str = "") -> Deployment: ...

    def tick(self, name: str) -> Decision | None: ...

    def set_eval_gates(self, model: str, gates: Any, *, dataset: str, target: str = "target",
                       stages: Any = ("staging", "production")) -> dict[str, Any]: ...

    def get_eval_gates(self, model: str) -> dict[str, Any] | None: ...

    def delete_eval_gates(self, model: str) -> None: ...


def _deployment(data: dict[str, Any]) -> Deployment:
    previous = data.get("previous")
    return Deployment(
        id=data["id"], name=data["name"], model=data["model"],
        variants=tuple(Variant.from_dict(v) for v in data["variants"]),
        key_field=data["key_field"],
        canary=Canary.from_dict(data["canary"]) if data.get("canary") else None,
        previous=tuple(Variant.from_dict(v) for v in previous) if previous else None,
        revision=int(data["revision"]), description=data["description"],
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]))


def _event(data: dict[str, Any]) -> DeploymentEvent:
    return DeploymentEvent(id=int(data["id"]), deployment=data["deployment"],
                           kind=data["kind"], actor=data["actor"], reason=data["reason"],
                           detail=data["detail"], at=datetime.fromisoformat(data["at"]))


def _stats(data: dict[str, Any]) -> VariantStats:
    return VariantStats(n=int(data["requests"]), errors=int(data["errors"]),
                        latency_sum=float(data.get("latency_sum") or 0.0),
                        hist={int(k): int(v) for k, v in (data.get("hist") or {}).items()})


class RemoteDeployments:
    """Deployments and evaluation gates of the server at ``transport``; ``registry``
    resolves a variant's ref the way the server does (for display)."""

    def __init__(self, transport: RemoteTransport, registry: RegistryService) -> None:
        self.http = transport
        self.registry = registry

    @staticmethod
    def _path(name: str, action: str = "") -> str:
        return f"/deployments/{segment(name)}" + (f"/{action}" if action else "")

    # -- reading -----------------------------------------------------------------------
    def get(self, name: str) -> Deployment:
        return _deployment(self.http.get(self._path(name)))

    def list(self) -> builtins.list[Deployment]:
        return [_deployment(d) for d in self.http.get("/deployments")["deployments"]]

    def events(self, name: str, *, limit: int = 100) -> builtins.list[DeploymentEvent]:
        return [_event(e) for e in self.http.get(self._path(name, "events"),
                                                 limit=limit)["events"]]

    def resolve(self, deployment: Deployment) -> dict[str, ModelVersion]:
        from modelplane.deployments.service import ref_uri

        return {v.name: self.registry.resolve(ref_uri(deployment.model, v.ref))
                for v in deployment.variants}

    def resolve_one(self, deployment: Deployment, variant: Variant) -> int:
        if variant.ref.isdigit():
            return int(variant.ref)
        from modelplane.deployments.service import ref_uri

        return self.registry.resolve(ref_uri(deployment.model, variant.ref)).version

    def stats(self, name: str, window: str | float = "5m") -> dict[str, VariantStats]:
        answer = self.http.get(self._path(name, "stats"), window=str(window))
        return {k: _stats(v) for k, v in answer["variants"].items()}

    # -- changes -----------------------------------------------------------------------
    def create(self, name: str, model: str, routes: Any = None, *, shadows: Any = None,
               key_field: str | None = None, description: str = "",
               actor: str = "") -> Deployment:
        return _deployment(self.http.post("/deployments", {
            "name": name, "model": model, "routes": _plain(routes),
            "shadows": _plain(shadows), "key_field": key_field,
            "description": description, "actor": actor}))

    def set_traffic(self, name: str, routes: Any, *, shadows: Any = None,
                    key_field: str | None = None, actor: str = "",
                    reason: str = "") -> Deployment:
        return _deployment(self.http.put(self._path(name, "traffic"), {
            "routes": _plain(routes), "shadows": _plain(shadows), "key_field": key_field,
            "actor": actor, "reason": reason}))

    def delete(self, name: str, *, actor: str = "") -> None:
        self.http.delete(self._path(name))

    def switch(self, name: str, to: str, *, actor: str = "", reason: str = "") -> Deployment:
        return _deployment(self.http.post(self._path(name, "switch"),
                                          {"to": str(to), "actor": actor, "reason": reason}))

    def switch_back(self, name: str, *, actor: str = "", reason: str = "") -> Deployment:
        return _deployment(self.http.post(self._path(name, "switch-back"),
                                          {"actor": actor, "reason": reason}))

    def promote(self, name: str, variant: str | None = None, *, actor: str = "",
                reason: str = "") -> Deployment:
        return _deployment(self.http.post(self._path(name, "promote"), {
            "variant": variant, "actor": actor, "reason": reason}))

    def start_canary(self, name: str, version: int | str, *, baseline: str | None = None,
                     steps: Any = (5, 25, 50, 100), hold: str | float = "60s",
                     hold_requests: int = 0, min_requests: int = 20, gates: Any = None,
                     variant: str = "canary", promote_stage: str | None = None,
                     actor: str = "") -> Deployment:
        return _deployment(self.http.post(self._path(name, "canary"), {
            "version": version, "baseline": baseline,
            "steps": steps if isinstance(steps, str) else list(steps), "hold": hold,
            "hold_requests": hold_requests, "min_requests": min_requests,
            "gates": _plain(gates), "variant": variant, "promote_stage": promote_stage,
            "actor": actor}))

    def abort(self, name: str, *, reason: str = "", actor: str = "") -> Deployment:
        return _deployment(self.http.post(self._path(name, "abort"),
                                          {"actor": actor, "reason": reason}))

    def tick(self, name: str) -> Decision | None:
        """Run the canary analysis once now on the server; None when no canary runs."""
        from modelplane.deployments.canary import Decision

        answer = self.http.post(self._path(name, "tick"))
        if answer["action"] is None:
            return None
        return Decision(answer["action"], answer["reason"],
                        tuple(GateResult(**g) for g in answer.get("gates", [])))

    # -- evaluation gates --------------------------------------------------------------
    def set_eval_gates(self, model: str, gates: Any, *, dataset: str, target: str = "target",
                       stages: Any = ("staging", "production")) -> dict[str, Any]:
        answer = self.http.put(f"/eval-gates/{segment(model)}", {
            "gates": _plain(gates), "dataset": dataset, "target": target,
            "stages": [stages] if isinstance(stages, str) else list(stages)})
        answer.pop("model", None)
        return dict(answer)

    def get_eval_gates(self, model: str) -> dict[str, Any] | None:
        response = self.http.request("GET", f"/eval-gates/{segment(model)}", allow=(404,))
        if response.status_code == 404:
            from modelplane.remote.http import error_from_response

            error = error_from_response(response)
            if error.details.get("model") == model:  # the model has no gates
                return None
            raise error
        answer = response.json()
        answer.pop("model", None)
        return dict(answer)

    def delete_eval_gates(self, model: str) -> None:
        self.http.delete(f"/eval-gates/{segment(model)}")

    def __repr__(self) -> str:
        return f"<RemoteDeployments {self.http.server_url}>"


def _plain(value: Any) -> Any:
    """Routes, shadows and gates as JSON takes them (tuples as lists, records as dicts)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return [_plain(v) for v in value]
