"""Alert actions of deployments, for monitoring's rules.

- ``rollback_deployment`` (``{"type": "rollback_deployment", "deployment": "churn"}``):
  a running canary is rolled back to its baseline; otherwise the last blue/green switch
  is undone.
- ``fail_canary_gate``: the running canary fails a gate named after the alert and is
  rolled back, the alert recorded as the reason.

``rollback`` and ``fail_canary`` are the same handlers under the names monitoring's
documentation uses. :func:`register_actions` binds them to one deployment service, on one
monitoring service's action registry (the composition root calls it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, InvalidStateError

if TYPE_CHECKING:
    from modelplane.deployments.service import DeploymentService
    from modelplane.monitoring.actions import ActionContext, ActionRegistry

__all__ = ["register_actions"]


def _validate(params: dict[str, Any]) -> None:
    name = params.get("deployment")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("deployment: the action needs the deployment's name",
                                   details={"field": "deployment"})


def _why(ctx: ActionContext) -> str:
    a = ctx.alert
    value = "no value" if a.value is None else f"{a.value:.4g}"
    return (f"alert {a.rule_name!r} fired: {a.metric} {value} {a.op} {a.threshold:g} over "
            f"{a.window}")


def _rollback(service: DeploymentService, ctx: ActionContext) -> dict[str, Any]:
    name = ctx.params["deployment"]
    d = service.get(name)
    if d.canary is not None and d.canary.running:
        service.fail_canary(name, _why(ctx), actor="alert")
        return {"deployment": name, "did": "canary_rolled_back"}
    if d.previous:
        service.switch_back(name, actor="alert", reason=_why(ctx))
        return {"deployment": name, "did": "switched_back"}
    raise InvalidStateError(f"deployment {name!r} has no canary running and no switch to "
                            "undo")


def _fail_gate(service: DeploymentService, ctx: ActionContext) -> dict[str, Any]:
    name = ctx.params["deployment"]
    service.fail_canary(name, f"gate failed: {_why(ctx)}", actor="alert")
    return {"deployment": name, "did": "canary_rolled_back"}


def register_actions(actions: ActionRegistry,
                     deployments: Callable[[], DeploymentService]) -> None:
    """Register the actions on ``actions``, acting on ``deployments()`` (built on first
    use: monitoring and deployments need each other)."""
    for name, handler in (("rollback_deployment", _rollback), ("rollback", _rollback),
                          ("fail_canary_gate", _fail_gate), ("fail_canary", _fail_gate)):
        actions.register(name, _bound(handler, deployments), validate=_validate,
                         replace=True)


def _bound(handler: Callable[[DeploymentService, ActionContext], dict[str, Any]],
           deployments: Callable[[], DeploymentService]
           ) -> Callable[[ActionContext], dict[str, Any]]:
    return lambda ctx: handler(deployments(), ctx)
