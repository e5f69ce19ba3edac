"""What a firing alert rule runs: actions, registered by name on one monitoring service.

Each :class:`~modelplane.monitoring.service.MonitoringService` owns an
:class:`ActionRegistry`. ``webhook`` is built in: a JSON POST retried with exponential
backoff on connection errors, 429 and 5xx, then recorded as failed. The composition root
(``modelplane.client``) registers the other capabilities' actions on the service it builds,
bound to its own deployments and pipelines: ``start_pipeline``/``retrain`` to start a
retraining run, ``rollback_deployment``/``rollback`` to roll a deployment back,
``fail_canary_gate``/``fail_canary`` to fail a canary gate. A rule naming an action the
service does not know is refused with the registered names listed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from modelplane.monitoring.alerts import Alert, Rule
    from modelplane.monitoring.webhooks import WebhookGuard

__all__ = ["ActionContext", "ActionHandler", "ActionRegistry", "ActionValidator"]

log = logging.getLogger("modelplane.monitoring")


@dataclass
class ActionContext:
    """What an action handler gets: the alert, the rule, and the action's own parameters
    (its entry in ``rule.actions`` without ``type``)."""

    alert: Alert
    rule: Rule
    params: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


ActionHandler = Callable[[ActionContext], Mapping[str, Any] | None]
ActionValidator = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class _Action:
    handler: ActionHandler
    validate: ActionValidator | None


class ActionRegistry:
    """The actions one monitoring service can run, by name (``webhook`` built in)."""

    def __init__(self, *, webhook_allow: str = "") -> None:
        """``webhook_allow``: where webhooks may go (see :mod:`.webhooks`)."""
        from modelplane.monitoring.webhooks import WebhookGuard

        self._actions: dict[str, _Action] = {}
        self._lock = threading.Lock()
        guard = WebhookGuard.parse(webhook_allow)
        self.register("webhook", lambda ctx: _webhook(ctx, guard),
                      validate=lambda params: _validate_webhook(params, guard))

    def register(self, name: str, handler: ActionHandler, *,
                 validate: ActionValidator | None = None, replace: bool = False) -> None:
        """Register ``handler`` as action ``name``. It runs on a worker thread, returns a
        small dict recorded with the alert (or None) and signals failure by raising.
        ``validate(params)`` runs when a rule is saved and raises ``InvalidArgumentError``."""
        with self._lock:
            if name in self._actions and not replace:
                raise InvalidArgumentError(f"action {name!r} is already registered",
                                           details={"field": "name"})
            self._actions[name] = _Action(handler, validate)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._actions.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def validate(self, actions: Any) -> list[dict[str, Any]]:
        """Checked copies of a rule's actions: each a dict with a registered ``type``."""
        if actions is None:
            return []
        if not isinstance(actions, list):
            raise InvalidArgumentError("actions: expected a list of {\"type\": ...} objects",
                                       details={"field": "actions"})
        out = []
        for i, action in enumerate(actions):
            where = f"actions[{i}]"
            if not isinstance(action, Mapping) or not isinstance(action.get("type"), str):
                raise InvalidArgumentError(f"{where}: expected an object with a \"type\"",
                                           details={"field": where})
            spec = self._actions.get(action["type"])
            if spec is None:
                raise InvalidArgumentError(
                    f"{where}: unknown action {action['type']!r}; registered actions: "
                    f"{', '.join(self.names()) or 'none'}",
                    details={"field": f"{where}.type", "registered": self.names()})
            params = {k: v for k, v in action.items() if k != "type"}
            if spec.validate is not None:
                spec.validate(params)
            out.append(dict(action))
        return out

    def run(self, action: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        """Run one action and return its outcome (never raises)."""
        kind = str(action.get("type"))
        started = time.perf_counter()
        spec = self._actions.get(kind)
        outcome: dict[str, Any] = {"type": kind, "status": "ok"}
        if spec is None:
            outcome.update(status="failed", error=f"unknown action {kind!r}")
            return outcome
        try:
            detail = spec.handler(ctx)
            if detail:
                outcome.update(dict(detail))
        except Exception as exc:
            outcome.update(getattr(exc, "outcome", {}))
            outcome.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            log.warning("alert %s: action %s failed: %s", ctx.alert.id, kind, exc)
        outcome["duration_s"] = round(time.perf_counter() - started, 4)
        return outcome


# -- webhook ------------------------------------------------------------------------------


class WebhookError(Exception):
    def __init__(self, message: str, outcome: dict[str, Any]) -> None:
        super().__init__(message)
        self.outcome = outcome


def _validate_webhook(params: dict[str, Any], guard: WebhookGuard) -> None:
    from modelplane.monitoring.webhooks import check_headers

    url = params.get("url")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise InvalidArgumentError("webhook: url must be an http:// or https:// URL",
                                   details={"field": "url"})
    guard.check(url)
    check_headers(params.get("headers"))
    for key in ("retries", "timeout_s", "backoff_s"):
        value = params.get(key)
        if value is not None and (not isinstance(value, int | float) or value < 0):
            raise InvalidArgumentError(f"webhook: {key} must be a non-negative number",
                                       details={"field": key})


def _webhook(ctx: ActionContext, guard: WebhookGuard) -> dict[str, Any]:
    """POST the alert; redirects are not followed, the answer's body is not read, and
    the host is checked again (its addresses may have changed since the rule)."""
    import httpx

    from modelplane.monitoring.webhooks import resolve_headers

    p = ctx.params
    guard.check(p["url"])
    retries = int(p.get("retries", 3))
    backoff = float(p.get("backoff_s", 1.0))
    payload = {"alert": ctx.alert.to_dict(), "rule": ctx.rule.to_dict()}
    body = _json_bytes(payload)
    headers = {"content-type": "application/json", **resolve_headers(p.get("headers"))}
    attempts, last = 0, ""
    timeout = min(float(p.get("timeout_s", 5.0)), 30.0)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for attempt in range(retries + 1):
            attempts = attempt + 1
            try:
                request = client.build_request("POST", p["url"], content=body,
                                               headers=headers)
                response = client.send(request, stream=True)  # the body is never read
                response.close()
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return {"attempts": attempts, "status_code": response.status_code}
                last = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    break
            if attempt < retries:
                time.sleep(backoff * 2 ** attempt)
    raise WebhookError(f"webhook {p['url']} failed after {attempts} attempt(s): {last}",
                       {"attempts": attempts, "last_error": last})


def _json_bytes(payload: Any) -> bytes:
    import json

    return json.dumps(payload, default=lambda v: v.isoformat() if hasattr(v, "isoformat")
                      else str(v)).encode()
