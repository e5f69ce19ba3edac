"""``/api/v1/deployments/...``: deployments, traffic, canaries, blue/green, events and
per-variant figures; ``/api/v1/eval-gates/{model}``: evaluation gates for stage moves.

Handlers parse, call :class:`~modelplane.deployments.service.DeploymentService` and return
a schema. Bad input is refused before anything changes: weights that do not sum to 100 or
a gate on an unknown metric are 422 naming the field, an unknown model or version 404, a
second canary (or a traffic change during one) 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from modelplane.core.errors import ModelplaneError
from modelplane.server.auth.deps import IdentityDep, actor_of
from modelplane.server.deps import DeploymentsDep
from modelplane.server.schemas.deployments import (
    AbortCreate,
    CanaryCreate,
    DeploymentCreate,
    DeploymentListOut,
    DeploymentOut,
    EvalGatesCreate,
    EvalGatesOut,
    EventListOut,
    EventOut,
    PromoteCreate,
    StatsOut,
    SwitchCreate,
    TickOut,
    TrafficUpdate,
)

router = APIRouter(tags=["deployments"])
PREFIX = "/deployments"


def _out(service: Any, d: Any) -> DeploymentOut:
    versions: dict[str, int | None] = {}
    for v in d.variants:
        try:
            versions[v.name] = service.resolve_one(d, v)
        except ModelplaneError:
            versions[v.name] = None
    return DeploymentOut(**d.to_dict(), versions=versions)


@router.post(PREFIX, response_model=DeploymentOut, status_code=201)
def create(identity: IdentityDep,
           service: DeploymentsDep, body: DeploymentCreate) -> DeploymentOut:
    actor = actor_of(identity, body.actor)
    return _out(service, service.create(body.name, body.model, body.routes,
                                        shadows=body.shadows, key_field=body.key_field,
                                        description=body.description, actor=actor))


@router.get(PREFIX, response_model=DeploymentListOut)
def list_deployments(service: DeploymentsDep) -> DeploymentListOut:
    return DeploymentListOut(deployments=[_out(service, d) for d in service.list()])


@router.get(PREFIX + "/{name}", response_model=DeploymentOut)
def get(service: DeploymentsDep, name: str) -> DeploymentOut:
    return _out(service, service.get(name))


@router.delete(PREFIX + "/{name}", status_code=204)
def delete(service: DeploymentsDep, name: str) -> Response:
    service.delete(name)
    return Response(status_code=204)


@router.put(PREFIX + "/{name}/traffic", response_model=DeploymentOut)
def set_traffic(identity: IdentityDep,
                service: DeploymentsDep, name: str, body: TrafficUpdate) -> DeploymentOut:
    actor = actor_of(identity, body.actor)
    return _out(service, service.set_traffic(name, body.routes, shadows=body.shadows,
                                             key_field=body.key_field, actor=actor,
                                             reason=body.reason))


@router.post(PREFIX + "/{name}/canary", response_model=DeploymentOut, status_code=201)
def start_canary(identity: IdentityDep,
                 service: DeploymentsDep, name: str, body: CanaryCreate) -> DeploymentOut:
    actor = actor_of(identity, body.actor)
    return _out(service, service.start_canary(
        name, body.version, baseline=body.baseline, steps=body.steps, hold=body.hold,
        hold_requests=body.hold_requests, min_requests=body.min_requests, gates=body.gates,
        variant=body.variant, promote_stage=body.promote_stage, actor=actor))


@router.post(PREFIX + "/{name}/promote", response_model=DeploymentOut)
def promote(identity: IdentityDep,
            service: DeploymentsDep, name: str, body: PromoteCreate) -> DeploymentOut:
    return _out(service, service.promote(name, body.variant, actor=actor_of(identity, body.actor),
                                         reason=body.reason))


@router.post(PREFIX + "/{name}/abort", response_model=DeploymentOut)
def abort(identity: IdentityDep,
          service: DeploymentsDep, name: str, body: AbortCreate) -> DeploymentOut:
    actor = actor_of(identity, body.actor)
    return _out(service, service.abort(name, reason=body.reason, actor=actor))


@router.post(PREFIX + "/{name}/switch", response_model=DeploymentOut)
def switch(identity: IdentityDep,
           service: DeploymentsDep, name: str, body: SwitchCreate) -> DeploymentOut:
    if body.to is None:
        from modelplane.core.errors import InvalidArgumentError

        raise InvalidArgumentError("to: name the variant (or version) to switch to",
                                   details={"field": "to"})
    actor = actor_of(identity, body.actor)
    return _out(service, service.switch(name, body.to, actor=actor, reason=body.reason))


@router.post(PREFIX + "/{name}/switch-back", response_model=DeploymentOut)
def switch_back(identity: IdentityDep,
                service: DeploymentsDep, name: str, body: AbortCreate) -> DeploymentOut:
    actor = actor_of(identity, body.actor)
    return _out(service, service.switch_back(name, actor=actor, reason=body.reason))


@router.post(PREFIX + "/{name}/tick", response_model=TickOut)
def tick(service: DeploymentsDep, name: str) -> TickOut:
    """Run the canary analysis once now (servers do it every poll interval)."""
    decision = service.tick(name)
    if decision is None:
        return TickOut(action=None, reason="no canary running")
    return TickOut(action=decision.action, reason=decision.reason,
                   gates=[r.to_dict() for r in decision.results])


@router.get(PREFIX + "/{name}/events", response_model=EventListOut)
def events(service: DeploymentsDep, name: str,
           limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> EventListOut:
    return EventListOut(events=[EventOut(**e.to_dict()) for e in service.events(name,
                                                                                 limit=limit)])


@router.get(PREFIX + "/{name}/stats", response_model=StatsOut)
def stats(service: DeploymentsDep, name: str,
          window: Annotated[str, Query(max_length=32)] = "5m") -> StatsOut:
    """Per-variant requests, errors and latency over ``window``, from every replica
    (with the raw latency sum and histogram, from which a client rebuilds the figures)."""
    figures = service.stats(name, window)
    return StatsOut(deployment=name, window=window, variants={
        k: {**v.to_dict(), "latency_sum": v.latency_sum, "hist": v.hist}
        for k, v in figures.items()})


@router.put("/eval-gates/{model}", response_model=EvalGatesOut)
def set_eval_gates(service: DeploymentsDep, model: str, body: EvalGatesCreate) -> EvalGatesOut:
    config = service.set_eval_gates(model, body.gates, dataset=body.dataset,
                                    target=body.target, stages=body.stages)
    return EvalGatesOut(model=model, **config)


@router.get("/eval-gates/{model}", response_model=EvalGatesOut)
def get_eval_gates(service: DeploymentsDep, model: str) -> EvalGatesOut:
    from modelplane.core.errors import NotFoundError

    config = service.get_eval_gates(model)
    if config is None:
        raise NotFoundError(f"model {model!r} has no evaluation gates",
                            details={"model": model})
    return EvalGatesOut(model=model, **config)


@router.delete("/eval-gates/{model}", status_code=204)
def delete_eval_gates(service: DeploymentsDep, model: str) -> Response:
    service.delete_eval_gates(model)
    return Response(status_code=204)
