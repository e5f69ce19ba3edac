"""Alert rules, their metrics, and the actions a firing rule runs.

A rule watches one metric of one model over a window (``1h``, ``5000p``, ...), compares
it with a threshold and, at most once per cooldown, fires: an alert is stored and each of
its actions runs off the caller's thread. Metrics (``parse_metric``)::

    drift_share  dataset_drift  prediction_drift              drift over the reference
    drift:COLUMN  drift:COLUMN:SCORE                          one column (default: its
        effect size; SCORE one of psi ks ks_p_value wasserstein jensenshannon chi2
        chi2_p_value effect p_value drifted); prediction columns are prediction:NAME
    latency_p50 latency_p95 latency_p99 latency_mean error_rate request_count
        throughput dropped cache_hit_rate                     health
    accuracy precision recall f1 roc_auc log_loss rmse mae r2 labelled performance

Actions are handlers registered by name (:func:`register_action`). ``webhook`` is built
in: a JSON POST retried with exponential backoff on connection errors, 429 and 5xx, then
recorded as failed. Other capabilities register theirs (``pipeline`` to start a retraining
run, ``rollback`` to roll a deployment back, ``fail_canary`` to fail a canary gate); a rule
naming an action nobody registered is refused with the registered names listed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.monitoring.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS

__all__ = [
    "ActionContext",
    "Alert",
    "MetricRef",
    "Rule",
    "action_names",
    "compare_value",
    "parse_metric",
    "register_action",
    "run_action",
    "unregister_action",
    "validate_actions",
]

log = logging.getLogger("modelplane.monitoring")

HEALTH_METRICS = ("latency_p50", "latency_p95", "latency_p99", "latency_mean", "error_rate",
                  "request_count", "throughput", "dropped", "cache_hit_rate")
LABEL_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
DRIFT_METRICS = ("drift_share", "dataset_drift", "prediction_drift")
COLUMN_SCORES = ("effect", "p_value", "drifted", "psi", "ks", "ks_p_value", "wasserstein",
                 "jensenshannon", "chi2", "chi2_p_value")
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}
METRIC_FORMS = (f"{', '.join(DRIFT_METRICS)}, drift:COLUMN[:SCORE], "
                f"{', '.join(HEALTH_METRICS)}, {', '.join(LABEL_METRICS)}")


@dataclass(frozen=True)
class MetricRef:
    """A parsed rule metric: ``family`` drift, column, health or performance."""

    family: str
    name: str
    column: str | None = None
    score: str = "effect"


def parse_metric(text: str) -> MetricRef:
    metric = str(text).strip()
    if metric in DRIFT_METRICS:
        return MetricRef("drift", metric)
    if metric in HEALTH_METRICS:
        return MetricRef("health", metric)
    if metric in LABEL_METRICS:
        return MetricRef("performance", metric)
    if metric.startswith("drift:") and len(metric) > len("drift:"):
        rest = metric[len("drift:"):]
        column, score = rest, "effect"
        head, sep, tail = rest.rpartition(":")
        if sep and tail in COLUMN_SCORES:
            column, score = head, tail
        if column:
            return MetricRef("column", metric, column=column, score=score)
    raise InvalidArgumentError(f"metric: unknown metric {metric!r}; expected one of "
                               f"{METRIC_FORMS} (SCORE: {', '.join(COLUMN_SCORES)})",
                               details={"field": "metric", "value": metric})


def compare_value(value: float, op: str, threshold: float) -> bool:
    return OPS[op](value, threshold)


@dataclass(frozen=True)
class Rule:
    id: str
    model: str
    name: str
    metric: str
    op: str
    threshold: float
    window: str
    version: int | None
    cooldown_s: float
    actions: list[dict[str, Any]]
    enabled: bool
    last_fired_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Alert:
    """One firing of a rule; ``status`` is pending (actions running), ok, failed (some
    action failed) or none (no actions). ``actions`` holds each action's outcome."""

    id: str
    rule_id: str
    model: str
    rule_name: str
    metric: str
    op: str
    threshold: float
    value: float | None
    window: str
    version: int | None
    status: str
    actions: list[dict[str, Any]]
    fired_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ActionContext:
    """What an action handler gets: the alert, the rule, the action's own parameters
    (its entry in ``rule.actions`` without ``type``) and the monitoring service."""

    alert: Alert
    rule: Rule
    params: dict[str, Any]
    service: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


ActionHandler = Callable[[ActionContext], Mapping[str, Any] | None]
ActionValidator = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class _Action:
    handler: ActionHandler
    validate: ActionValidator | None


_ACTIONS: dict[str, _Action] = {}
_ACTIONS_LOCK = threading.Lock()


def register_action(name: str, handler: ActionHandler, *,
                    validate: ActionValidator | None = None, replace: bool = False) -> None:
    """Register ``handler`` as action ``name``. It runs on a worker thread, returns a
    small dict recorded with the alert (or None) and signals failure by raising.
    ``validate(params)`` runs when a rule is saved and raises ``InvalidArgumentError``."""
    with _ACTIONS_LOCK:
        if name in _ACTIONS and not replace:
            raise InvalidArgumentError(f"action {name!r} is already registered",
                                       details={"field": "name"})
        _ACTIONS[name] = _Action(handler, validate)


def unregister_action(name: str) -> None:
    with _ACTIONS_LOCK:
        _ACTIONS.pop(name, None)


def action_names() -> list[str]:
    return sorted(_ACTIONS)


def validate_actions(actions: Any) -> list[dict[str, Any]]:
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
        spec = _ACTIONS.get(action["type"])
        if spec is None:
            raise InvalidArgumentError(
                f"{where}: unknown action {action['type']!r}; registered actions: "
                f"{', '.join(action_names()) or 'none'}",
                details={"field": f"{where}.type", "registered": action_names()})
        params = {k: v for k, v in action.items() if k != "type"}
        if spec.validate is not None:
            spec.validate(params)
        out.append(dict(action))
    return out


def run_action(action: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
    """Run one action and return its outcome (never raises)."""
    kind = str(action.get("type"))
    started = time.perf_counter()
    spec = _ACTIONS.get(kind)
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


def _validate_webhook(params: dict[str, Any]) -> None:
    url = params.get("url")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise InvalidArgumentError("webhook: url must be an http:// or https:// URL",
                                   details={"field": "url"})
    for key in ("retries", "timeout_s", "backoff_s"):
        value = params.get(key)
        if value is not None and (not isinstance(value, int | float) or value < 0):
            raise InvalidArgumentError(f"webhook: {key} must be a non-negative number",
                                       details={"field": key})


def _webhook(ctx: ActionContext) -> dict[str, Any]:
    import httpx

    p = ctx.params
    retries = int(p.get("retries", 3))
    backoff = float(p.get("backoff_s", 1.0))
    payload = {"alert": ctx.alert.to_dict(), "rule": ctx.rule.to_dict()}
    body = _json_bytes(payload)
    headers = {"content-type": "application/json", **dict(p.get("headers") or {})}
    attempts, last = 0, ""
    with httpx.Client(timeout=float(p.get("timeout_s", 5.0))) as client:
        for attempt in range(retries + 1):
            attempts = attempt + 1
            try:
                response = client.post(p["url"], content=body, headers=headers)
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


register_action("webhook", _webhook, validate=_validate_webhook)
