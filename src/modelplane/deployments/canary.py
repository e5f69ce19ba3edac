"""The canary analysis: gates, and the state machine that advances or rolls back.

:func:`decide` is pure: given a running :class:`~modelplane.deployments.entities.Canary`,
the candidate's figures in the current step, the baseline's figures since the canary
started, the time, and (for drift and labelled-performance gates) a ``monitor`` callback,
it returns a :class:`Decision`:

- ``rollback`` as soon as a gate fails once the candidate has ``min_requests`` requests in
  the step (a failing version is taken out early, not at the end of a long hold);
- ``wait`` while the step is held (``hold_seconds`` and ``hold_requests`` not both met), or
  while a gate has no data yet (a labelled metric waiting for labels);
- ``advance`` to the next step once the hold is met and every gate passes, or
  ``complete`` when that was the last step (the candidate then takes the baseline's
  place at full weight).

The service applies a decision in one transaction that re-checks the canary is still at
the same step, so a decision taken twice (two replicas) changes the state once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.deployments.entities import Canary, CanaryGate, GateResult, VariantStats
from modelplane.deployments.stats import quantile

__all__ = ["DEFAULT_GATES", "SERVING_METRICS", "Decision", "decide", "parse_gates",
           "parse_steps", "stats_metric"]

SERVING_METRICS = ("error_rate", "latency_p50", "latency_p95", "latency_p99", "latency_mean")
_BOUNDS = ("max", "min", "max_ratio", "max_increase", "max_drop")
DEFAULT_GATES = (CanaryGate("error_rate", max_increase=0.01),
                 CanaryGate("latency_p99", max_ratio=1.5, tolerance=0.01))

#: ``monitor(metric, version, window_seconds) -> value or None`` (drift, label metrics)
Monitor = Callable[[str, int, float], float | None]


@dataclass(frozen=True)
class Decision:
    action: str  # wait, advance, complete, rollback
    reason: str
    results: tuple[GateResult, ...] = ()


def _fail(field: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{field}: {message}", details={"field": field})


def check_metric(metric: object, field: str) -> str:
    """A serving metric, or one the monitoring service knows (drift, labelled)."""
    if not isinstance(metric, str) or not metric:
        raise _fail(field, f"expected a metric name, got {metric!r}")
    if metric in SERVING_METRICS:
        return metric
    from modelplane.monitoring.alerts import HEALTH_METRICS, parse_metric

    try:
        ref = parse_metric(metric)
    except InvalidArgumentError:
        ref = None
    if ref is None or metric in HEALTH_METRICS:
        raise InvalidArgumentError(
            f"{field}: unknown gate metric {metric!r}; expected one of "
            f"{', '.join(SERVING_METRICS)}, or a monitoring metric: drift_share, "
            "prediction_drift, drift:COLUMN, accuracy, roc_auc, f1, rmse, mae, r2, ...",
            details={"field": field, "value": metric})
    return ref.name


def _gate(item: Any, i: int) -> CanaryGate:
    where = f"gates[{i}]"
    if isinstance(item, CanaryGate):
        item = item.to_dict()
    if isinstance(item, str):  # "error_rate:max=0.05,tolerance=0.001", "drift:age:max=0.2"
        eq = item.find("=")
        cut = item.rfind(":", 0, eq if eq >= 0 else len(item))
        metric, rest = (item[:cut], item[cut + 1:]) if cut >= 0 and eq >= 0 else (item, "")
        item = {"metric": metric.strip()}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, sep, text = part.partition("=")
            if not sep:
                raise _fail(where, f"expected METRIC:BOUND=VALUE[,BOUND=VALUE], got {part!r}")
            item[key.strip()] = text.strip()
    if not isinstance(item, Mapping):
        raise _fail(where, "expected METRIC:BOUND=VALUE or an object")
    unknown = set(item) - {"metric", "tolerance", *_BOUNDS}
    if unknown:
        raise _fail(where, f"unknown key {sorted(unknown)[0]!r}; expected metric, "
                    f"{', '.join(_BOUNDS)}, tolerance")
    metric = check_metric(item.get("metric"), f"{where}.metric")
    values: dict[str, float] = {}
    for key in (*_BOUNDS, "tolerance"):
        if item.get(key) is None:
            continue
        try:
            value = float(item[key])
        except (TypeError, ValueError):
            raise _fail(f"{where}.{key}", f"expected a number, got {item[key]!r}") from None
        if not math.isfinite(value) or (key in ("max_ratio", "tolerance") and value < 0):
            raise _fail(f"{where}.{key}", f"expected a finite non-negative number, got {value}")
        values[key] = value
    if not any(k in values for k in _BOUNDS):
        raise _fail(where, f"gate on {metric} needs a bound: one of {', '.join(_BOUNDS)}")
    return CanaryGate(metric, **values)


def parse_gates(gates: Any) -> tuple[CanaryGate, ...]:
    """Checked gates (objects, ``CanaryGate`` or ``"METRIC:BOUND=VALUE"`` strings); None
    gives :data:`DEFAULT_GATES`; an unknown metric is an ``InvalidArgumentError``."""
    if gates is None:
        return DEFAULT_GATES
    if isinstance(gates, str | Mapping):
        gates = [gates]
    return tuple(_gate(g, i) for i, g in enumerate(gates))


def parse_steps(steps: Any) -> tuple[float, ...]:
    """Increasing percentages in (0, 100], e.g. ``[5, 25, 50, 100]`` or ``"5,25,50,100"``."""
    if isinstance(steps, str):
        steps = [s for s in steps.replace(" ", "").split(",") if s]
    try:
        out = tuple(float(s) for s in steps)
    except (TypeError, ValueError):
        raise _fail("steps", f"expected increasing percentages, got {steps!r}") from None
    if not out or any(not (0 < s <= 100) or not math.isfinite(s) for s in out):
        raise _fail("steps", f"expected percentages above 0 and at most 100, got {list(out)}")
    if any(b <= a for a, b in pairwise(out)):
        raise _fail("steps", f"expected increasing percentages, got {list(out)}")
    return out


def stats_metric(stats: VariantStats, metric: str) -> float | None:
    if not stats.n:
        return None
    if metric == "error_rate":
        return stats.errors / stats.n
    if metric == "latency_mean":
        return stats.latency_sum / stats.n
    q = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}[metric]
    return quantile(stats.hist, q)


def check_gate(gate: CanaryGate, value: float | None, baseline: float | None) -> GateResult:
    name = gate.describe()
    if value is None:
        return GateResult(name, "no_data", None, baseline, f"{gate.metric}: no data yet")
    problems = []
    if gate.max is not None and value > gate.max:
        problems.append(f"{value:.4g} > max {gate.max:g}")
    if gate.min is not None and value < gate.min:
        problems.append(f"{value:.4g} < min {gate.min:g}")
    if gate.relative:
        if baseline is None:
            return GateResult(name, "no_data", value, None,
                              f"{gate.metric}: no baseline data to compare with")
        tol = gate.tolerance
        if gate.max_ratio is not None and value > baseline * gate.max_ratio + tol:
            problems.append(f"{value:.4g} is more than {gate.max_ratio:g}x the baseline's "
                            f"{baseline:.4g}")
        if gate.max_increase is not None and value - baseline > gate.max_increase + tol:
            problems.append(f"{value:.4g} exceeds the baseline's {baseline:.4g} by more than "
                            f"{gate.max_increase:g}")
        if gate.max_drop is not None and baseline - value > gate.max_drop + tol:
            problems.append(f"{value:.4g} is below the baseline's {baseline:.4g} by more than "
                            f"{gate.max_drop:g}")
    if problems:
        return GateResult(name, "fail", value, baseline, f"{gate.metric} " + "; ".join(problems))
    return GateResult(name, "pass", value, baseline, f"{gate.metric} {value:.4g} ok")


def evaluate(canary: Canary, candidate: VariantStats, baseline: VariantStats, now: float,
             baseline_version: int | None, monitor: Monitor | None) -> list[GateResult]:
    results = []
    for gate in canary.gates:
        if gate.metric in SERVING_METRICS:
            value = stats_metric(candidate, gate.metric)
            base = stats_metric(baseline, gate.metric)
        elif monitor is None:
            value = base = None
        else:
            value = monitor(gate.metric, canary.version, now - canary.step_started_at)
            base = (monitor(gate.metric, baseline_version, now - canary.started_at)
                    if gate.relative and baseline_version else None)
        results.append(check_gate(gate, value, base))
    return results


def decide(canary: Canary, candidate: VariantStats, baseline: VariantStats, now: float, *,
           baseline_version: int | None = None, monitor: Monitor | None = None) -> Decision:
    """The next move of a running canary (see the module docstring)."""
    held = now - canary.step_started_at
    step = f"step {canary.step + 1}/{len(canary.steps)} ({canary.steps[canary.step]:g}%)"
    if candidate.n < canary.min_requests:
        return Decision("wait", f"{step}: {candidate.n} of {canary.min_requests} requests "
                        "before the gates count")
    results = tuple(evaluate(canary, candidate, baseline, now, baseline_version, monitor))
    failed = [r for r in results if r.status == "fail"]
    if failed:
        return Decision("rollback", f"{step}: gate failed: " + "; ".join(r.reason for r in
                                                                          failed), results)
    if held < canary.hold_seconds or candidate.n < canary.hold_requests:
        return Decision("wait", f"{step}: held {held:.1f} of {canary.hold_seconds:g} s, "
                        f"{candidate.n} of {canary.hold_requests} requests", results)
    waiting = [r for r in results if r.status == "no_data"]
    if waiting:
        return Decision("wait", f"{step}: waiting for data: " + "; ".join(r.reason for r in
                                                                          waiting), results)
    if canary.step + 1 >= len(canary.steps):
        return Decision("complete", f"{step}: every gate passed on the last step", results)
    return Decision("advance", f"{step}: every gate passed; on to "
                    f"{canary.steps[canary.step + 1]:g}%", results)


def describe_gates(gates: Sequence[CanaryGate]) -> str:
    return ", ".join(g.describe() for g in gates)
