"""Alert actions of deployments, for monitoring's rules.

- ``rollback_deployment`` (``{"type": "rollback_deployment", "deployment": "churn"}``):
  a running canary is rolled back to its baseline; otherwise the last blue/green switch
  is undone.
- ``fail_canary_gate``: the running canary fails a gate named after the alert and is
  rolled back, the alert recorded as the reason.

``rollback`` and ``fail_canary`` are the same handlers under the names monitoring's
documentation uses. Handlers find the deployments of the client that owns the monitoring
service firing the alert (the configured client otherwise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from modelplane.core.errors import InvalidArgumentError, InvalidStateError

if TYPE_CHECKING:
    from modelplane.client import Client
    from modelplane.deployments.service import DeploymentService
    from modelplane.monitoring.alerts import ActionContext

__all__ = ["register_actions"]

_OWNERS: WeakKeyDictionary[Any, Client] = WeakKeyDictionary()


def _validate(params: dict[str, Any]) -> None:
    name = params.get("deployment")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("deployment: the action needs the deployment's name",
                                   details={"field": "deployment"})


def _service(ctx: ActionContext) -> DeploymentService:
    client = _OWNERS.get(ctx.service) if ctx.service is not None else None
    if client is None:
        from modelplane.client import Client

        client = Client()
    return client.deployments


def _why(ctx: ActionContext) -> str:
    a = ctx.alert
    value = "no value" if a.value is None else f"{a.value:.4g}"
    return (f"alert {a.rule_name!r} fired: {a.metric} {value} {a.op} {a.threshold:g} over "
            f"{a.window}")


def _rollback(ctx: ActionContext) -> dict[str, Any]:
    service, name = _service(ctx), ctx.params["deployment"]
    d = service.get(name)
    if d.canary is not None and d.canary.running:
        service.fail_canary(name, _why(ctx), actor="alert")
        return {"deployment": name, "did": "canary_rolled_back"}
    if d.previous:
        service.switch_back(name, actor="alert", reason=_why(ctx))
        return {"deployment": name, "did": "switched_back"}
    raise InvalidStateError(f"deployment {name!r} has no canary running and no switch to "
                            "undo")


def _fail_gate(ctx: ActionContext) -> dict[str, Any]:
    service, name = _service(ctx), ctx.params["deployment"]
    service.fail_canary(name, f"gate failed: {_why(ctx)}", actor="alert")
    return {"deployment": name, "did": "canary_rolled_back"}


def register_actions(client: Client, monitoring: Any = None) -> None:
    """Register the actions (idempotent); ``monitoring``'s alerts act through ``client``."""
    from modelplane.monitoring.alerts import register_action

    if monitoring is not None:
        _OWNERS[monitoring] = client
    for name, handler in (("rollback_deployment", _rollback), ("rollback", _rollback),
                          ("fail_canary_gate", _fail_gate), ("fail_canary", _fail_gate)):
        register_action(name, handler, validate=_validate, replace=True)
