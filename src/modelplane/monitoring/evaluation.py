"""Evaluating alert rules: a rule metric's current value, firing under a cooldown claimed
in the database (so several replicas fire a rule once), and running the actions of each
fired alert on worker threads, never on the evaluating thread."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import ModelplaneError
from modelplane.core.ids import new_id
from modelplane.core.timeutil import utcnow
from modelplane.monitoring.actions import ActionContext
from modelplane.monitoring.alerts import Alert, Rule, compare_value, parse_metric

if TYPE_CHECKING:
    from modelplane.monitoring.service import MonitoringService

__all__ = ["RuleEvaluator", "metric_value"]

log = logging.getLogger("modelplane.monitoring")


def metric_value(service: MonitoringService, model: str, metric: str, window: str = "1h",
                 version: int | None = None, *, cache: dict[Any, Any] | None = None
                 ) -> float | None:
    """The current value of a rule metric (None: no data in the window)."""
    ref = parse_metric(metric)
    cache = {} if cache is None else cache
    key = (ref.family if ref.family != "column" else "drift", model, window, version)
    if key not in cache:
        if key[0] == "drift":
            cache[key] = service.drift(model, window, version)
        elif key[0] == "health":
            cache[key] = service.health(model, window, version)
        else:
            cache[key] = service.performance(model, window, version)
    report = cache[key]
    if ref.family == "health":
        return report.metric(ref.name)
    if ref.family == "performance":
        return report.metric(ref.name)
    result = report.result
    if result.n_current == 0:
        return None
    if ref.family == "drift":
        return {"drift_share": result.share, "dataset_drift": float(result.dataset_drift),
                "prediction_drift": float(result.prediction_drift)}[ref.name]
    col = result.column(ref.column or "")
    if ref.score == "effect":
        return col.effect_size
    if ref.score == "p_value":
        return col.p_value
    if ref.score == "drifted":
        return float(col.drifted)
    return col.scores.get(ref.score)


class RuleEvaluator:
    """Evaluates a service's rules; owns the worker threads that run actions."""

    def __init__(self, service: MonitoringService) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def evaluate(self, model: str | None = None, *, wait_for_actions: bool = False,
                 timeout: float = 60.0) -> list[Alert]:
        """See :meth:`MonitoringService.evaluate_rules`."""
        store = self.service.rules_store
        cache: dict[Any, Any] = {}
        fired: list[tuple[Alert, Future[None] | None]] = []
        for rule in store.list_rules(model, enabled_only=True):
            try:
                value = metric_value(self.service, rule.model, rule.metric, rule.window,
                                     rule.version, cache=cache)
            except ModelplaneError as exc:
                log.warning("rule %s/%s: %s", rule.model, rule.name, exc.message)
                continue
            if value is None or not compare_value(value, rule.op, rule.threshold):
                continue
            now = utcnow()
            if not store.claim(rule.id, int(now.timestamp() * 1000), rule.cooldown_s):
                continue
            alert = store.add_alert(Alert(
                id=new_id(), rule_id=rule.id, model=rule.model, rule_name=rule.name,
                metric=rule.metric, op=rule.op, threshold=rule.threshold, value=value,
                window=rule.window, version=rule.version,
                status="pending" if rule.actions else "none",
                actions=[{"type": a["type"], "status": "pending"} for a in rule.actions],
                fired_at=now, updated_at=now))
            future = self._pool().submit(self._run_actions, alert, rule) if rule.actions \
                else None
            fired.append((alert, future))
        if not wait_for_actions:
            return [a for a, _ in fired]
        wait([f for _, f in fired if f is not None], timeout=timeout)
        done = {a.id: a for a in store.alerts(model, limit=max(len(fired), 1) * 4)}
        return [done.get(a.id, a) for a, _ in fired]

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(4, thread_name_prefix="modelplane-alert")
            return self._executor

    def _run_actions(self, alert: Alert, rule: Rule) -> None:
        outcomes = []
        for action in rule.actions:
            params = {k: v for k, v in action.items() if k != "type"}
            outcomes.append(self.service.actions.run(action, ActionContext(alert, rule,
                                                                           params)))
        status = "ok" if all(o["status"] == "ok" for o in outcomes) else "failed"
        try:
            self.service.rules_store.finish_alert(alert.id, status, outcomes)
        except ModelplaneError as exc:
            log.error("alert %s: could not record the action outcomes: %s", alert.id, exc)

    def start(self, interval_s: float = 60.0) -> threading.Event:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval_s):
                try:
                    self.evaluate()
                except Exception:
                    log.exception("alert rule evaluation failed")

        threading.Thread(target=loop, name="modelplane-alert-evaluator", daemon=True).start()
        return stop

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
