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

What a firing rule runs is an action registered by name on the monitoring service's own
:class:`~modelplane.monitoring.actions.ActionRegistry` (see ``actions``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.monitoring.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS

__all__ = ["Alert", "MetricRef", "Rule", "compare_value", "parse_metric"]

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
