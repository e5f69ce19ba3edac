"""The canary state machine with synthetic figures: gates, holds, advance, rollback."""

from __future__ import annotations

import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.deployments.canary import decide, parse_gates, parse_steps
from modelplane.deployments.entities import Canary, CanaryGate, VariantStats
from modelplane.deployments.stats import bucket_index, quantile


def _stats(n: int, errors: int = 0, latency: float = 0.01) -> VariantStats:
    s = VariantStats(n=n, errors=errors, latency_sum=latency * n)
    s.hist[bucket_index(latency)] = n
    return s


def _canary(**changes: object) -> Canary:
    base = Canary(candidate="canary", baseline="production", version=2,
                  steps=(5, 25, 50, 100), hold_seconds=10, hold_requests=50, min_requests=20,
                  gates=parse_gates(["error_rate:max=0.05", "latency_p99:max_ratio=1.5"]),
                  baseline_weight=100, started_at=1000.0, step_started_at=1000.0)
    return base.evolve(**changes)


def run(canary: Canary, error_share: float, latency: float = 0.01) -> tuple[Canary, list[str]]:
    """Drive a canary with synthetic traffic until it finishes; return the path."""
    now, actions = canary.started_at, []
    for _ in range(200):
        now += 1
        n = int(40 * (now - canary.step_started_at))
        decision = decide(canary, _stats(n, int(n * error_share), latency),
                          _stats(10_000), now)
        actions.append(decision.action)
        if decision.action == "advance":
            canary = canary.evolve(step=canary.step + 1, step_started_at=now)
        elif decision.action == "rollback":
            return canary.evolve(status="rolled_back", reason=decision.reason), actions
        elif decision.action == "complete":
            return canary.evolve(status="succeeded", reason=decision.reason), actions
    raise AssertionError("the canary never finished")


def test_a_healthy_canary_walks_every_step_to_100() -> None:
    canary, actions = run(_canary(), 0.0)
    assert canary.status == "succeeded" and canary.step == 3
    assert actions.count("advance") == 3 and actions[-1] == "complete"


def test_a_canary_failing_20_percent_is_rolled_back_with_the_reason() -> None:
    canary, actions = run(_canary(), 0.2)
    assert canary.status == "rolled_back" and canary.step == 0
    assert "error_rate" in canary.reason and "max 0.05" in canary.reason
    assert "advance" not in actions  # taken out in its first step, not after the hold


def test_a_slow_canary_fails_the_relative_latency_gate() -> None:
    canary, _ = run(_canary(), 0.0, latency=0.05)
    assert canary.status == "rolled_back" and "latency_p99" in canary.reason


def test_the_hold_needs_both_time_and_requests() -> None:
    c = _canary()
    assert decide(c, _stats(500), _stats(500), 1005.0).action == "wait"  # 5 of 10 s
    assert decide(c, _stats(30), _stats(500), 1020.0).action == "wait"  # 30 of 50 requests
    assert decide(c, _stats(60), _stats(500), 1020.0).action == "advance"


def test_gates_do_not_count_before_min_requests() -> None:
    c = _canary()
    assert decide(c, _stats(10, errors=10), _stats(500), 1020.0).action == "wait"
    assert decide(c, _stats(20, errors=10), _stats(500), 1020.0).action == "rollback"


def test_monitoring_gates_wait_for_data_then_compare_with_the_baseline() -> None:
    c = _canary(gates=parse_gates([{"metric": "accuracy", "max_drop": 0.02}]))
    values: dict[int, float | None] = {2: None, 1: 0.9}
    def monitor(metric: str, version: int, seconds: float) -> float | None:
        return values[version]
    args = (_stats(100), _stats(500), 1020.0)
    assert decide(c, *args, baseline_version=1, monitor=monitor).action == "wait"
    values[2] = 0.89
    assert decide(c, *args, baseline_version=1, monitor=monitor).action == "advance"
    values[2] = 0.8
    decision = decide(c, *args, baseline_version=1, monitor=monitor)
    assert decision.action == "rollback" and "accuracy" in decision.reason


@pytest.mark.parametrize("gates, message", [
    (["requests_per_hour:max=3"], "unknown gate metric"),
    ([{"metric": "error_rate"}], "needs a bound"),
    ([{"metric": "error_rate", "max": "x"}], "expected a number"),
    ([{"metric": "error_rate", "maximum": 1}], "unknown key"),
])
def test_bad_gates_are_refused(gates: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_gates(gates)


def test_monitoring_metrics_are_accepted_as_gates() -> None:
    gates = parse_gates(["drift_share:max=0.3", "roc_auc:max_drop=0.01", "drift:age:max=0.2"])
    assert [g.metric for g in gates] == ["drift_share", "roc_auc", "drift:age"]
    assert isinstance(gates[0], CanaryGate)


@pytest.mark.parametrize("steps", ["", "5,5", "50,25", "0,50", "5,150", [None]])
def test_bad_steps_are_refused(steps: object) -> None:
    with pytest.raises(InvalidArgumentError, match="steps"):
        parse_steps(steps)


def test_latency_quantiles_from_the_histogram() -> None:
    hist: dict[int, int] = {}
    for ms in range(1, 101):
        i = bucket_index(ms / 1000)
        hist[i] = hist.get(i, 0) + 1
    p50, p99 = quantile(hist, 0.5), quantile(hist, 0.99)
    assert p50 is not None and p99 is not None
    assert 0.04 < p50 < 0.06 and 0.085 < p99 < 0.12
    assert quantile({}, 0.5) is None
