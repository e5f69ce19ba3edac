"""Alert rules: metric parsing, validation, firing, cooldown, pluggable actions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelplane.core.errors import AlreadyExistsError, InvalidArgumentError
from modelplane.monitoring.actions import ActionContext
from modelplane.monitoring.alerts import parse_metric
from modelplane.monitoring.service import MonitoringService
from tests.unit.monitoring.conftest import log


def test_metrics_parse_or_fail_clearly() -> None:
    assert parse_metric("drift:age").column == "age"
    assert parse_metric("drift:age:psi").score == "psi"
    assert parse_metric("drift:prediction:score").column == "prediction:score"
    assert parse_metric("latency_p99").family == "health"
    assert parse_metric("roc_auc").family == "performance"
    with pytest.raises(InvalidArgumentError, match="unknown metric 'latency_p42'"):
        parse_metric("latency_p42")


def test_rules_are_validated(service: MonitoringService) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown metric"):
        service.create_rule("m", "r", "accuracy_ish", 0.5)
    with pytest.raises(InvalidArgumentError, match="window: cannot parse"):
        service.create_rule("m", "r", "error_rate", 0.5, window="soon")
    with pytest.raises(InvalidArgumentError, match=r"unknown action 'teleport'; registered "
                                                   r"actions: .*webhook"):
        service.create_rule("m", "r", "error_rate", 0.5, actions=[{"type": "teleport"}])
    with pytest.raises(InvalidArgumentError, match="webhook: url"):
        service.create_rule("m", "r", "error_rate", 0.5, actions=[{"type": "webhook"}])
    with pytest.raises(InvalidArgumentError, match="op: '=='"):
        service.create_rule("m", "r", "error_rate", 0.5, op="==")
    service.set_reference("m", pd.DataFrame({"x": np.arange(100.0)}))
    with pytest.raises(InvalidArgumentError, match="has no column 'nope'"):
        service.create_rule("m", "r", "drift:nope", 0.1)
    service.create_rule("m", "r", "error_rate", 0.5)
    with pytest.raises(AlreadyExistsError, match="already has a rule named 'r'"):
        service.create_rule("m", "r", "error_rate", 0.5)


def test_a_rule_fires_once_per_cooldown_and_runs_its_actions(service: MonitoringService) -> None:
    seen: list[ActionContext] = []

    def record(ctx: ActionContext) -> dict[str, Any]:
        seen.append(ctx)
        return {"note": f"saw {ctx.alert.value:.2f}"}

    def broken(ctx: ActionContext) -> None:
        raise RuntimeError("the pipeline service is down")

    service.actions.register("test-record", record)
    service.actions.register("test-broken", broken)
    try:
        assert {"test-record", "webhook"} <= set(service.actions.names())
        service.create_rule("m", "errors", "error_rate", 0.2, window="1h", cooldown="1h",
                            actions=[{"type": "test-record", "x": 1}])
        service.create_rule("m", "slow", "latency_p99", 0.5)  # never true
        service.create_rule("m", "broken", "request_count", 10, op=">=", cooldown=0,
                            actions=[{"type": "test-broken"}])
        assert service.evaluate_rules("m") == []  # no data: nothing fires
        log(service, 50, errors=20)
        fired = service.evaluate_rules("m", wait_for_actions=True)
        assert sorted(a.rule_name for a in fired) == ["broken", "errors"]
        errors = next(a for a in fired if a.rule_name == "errors")
        assert errors.value == pytest.approx(0.4) and errors.status == "ok"
        assert errors.actions[0]["note"] == "saw 0.40"
        assert seen[0].params == {"x": 1} and seen[0].rule.name == "errors"
        broken_alert = next(a for a in fired if a.rule_name == "broken")
        assert broken_alert.status == "failed"
        assert "the pipeline service is down" in broken_alert.actions[0]["error"]
        again = service.evaluate_rules("m", wait_for_actions=True)
        assert [a.rule_name for a in again] == ["broken"]  # 'errors' is cooling down
        history = service.alerts("m", rule="errors")
        assert len(history) == 1 and history[0].status == "ok"
    finally:
        service.actions.unregister("test-record")
        service.actions.unregister("test-broken")


def test_drift_and_column_metrics(service: MonitoringService) -> None:
    rng = np.random.default_rng(0)
    service.set_reference("m", pd.DataFrame({"x": rng.normal(size=5000)}))
    log(service, 2000, x=1.0)
    assert service.metric_value("m", "drift_share") == 1.0
    assert service.metric_value("m", "drift:x") > 0.5
    assert service.metric_value("m", "drift:x:ks_p_value") < 1e-6
    assert service.metric_value("m", "drift:x:drifted") == 1.0
    assert service.metric_value("m", "accuracy") is None  # no labels yet
