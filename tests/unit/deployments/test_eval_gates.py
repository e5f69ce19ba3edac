"""Evaluation gates before a stage move (CI/CD for models), and the alert actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelplane.client import Client
from modelplane.core.errors import InvalidArgumentError, InvalidStateError
from modelplane.monitoring.actions import ActionContext
from modelplane.monitoring.alerts import Alert, Rule

# these tests serve python-flavor models they define: pickles, loaded under the opt-in
pytestmark = pytest.mark.usefixtures("trust_pickles")


def _data(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return pd.DataFrame({"f0": x[:, 0], "f1": x[:, 1], "f2": x[:, 2], "label": y})


def _version(client: Client, train: pd.DataFrame, evaluation: Path, *, noise: bool) -> int:
    from sklearn.linear_model import LogisticRegression

    X, y = train.drop(columns=["label"]), train["label"]
    if noise:  # a worse candidate: trained on shuffled labels
        y = y.sample(frac=1.0, random_state=1).reset_index(drop=True)
    model = LogisticRegression().fit(X, y)
    with client.start_run("gates") as run:
        run.log_artifact(evaluation)
        run.log_dataset(pd.read_parquet(evaluation), name="eval", role="eval")
        return int(run.log_model(model, "scorer", input_example=X[:3]).version)


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client()


def test_a_worse_version_is_kept_out_of_production_and_why_is_recorded(
        client: Client, tmp_path: Path) -> None:
    evaluation = tmp_path / "eval.parquet"
    _data(2).to_parquet(evaluation)
    train = _data(1)
    good = _version(client, train, evaluation, noise=False)
    bad = _version(client, train, evaluation, noise=True)
    better = _version(client, train, evaluation, noise=False)
    deployments = client.deployments
    deployments.set_eval_gates("scorer", ["roc_auc:max_drop=0.01", "accuracy:min=0.6"],
                               dataset="run:eval.parquet", target="label",
                               stages=["production"])
    client.registry.set_stage("scorer", good, "production")  # no holder: floors only
    with pytest.raises(InvalidStateError, match=r"roc_auc .* drops by") as err:
        client.registry.set_stage("scorer", bad, "production", reason="try it")
    assert err.value.http_status == 409
    assert client.registry.get_latest_version("scorer", stage="production").version == good
    tags = client.registry.get_version("scorer", bad).tags
    assert tags["gate.production.result"] == "failed"
    detail = json.loads(tags["gate.production.detail"])
    assert detail["holder_version"] == good and detail["rows"] == 400
    assert detail["candidate"]["roc_auc"] < detail["holder"]["roc_auc"] - 0.01
    moved = client.registry.set_stage("scorer", better, "production", reason="retrained")
    assert moved.stage == "production"
    assert client.registry.get_version("scorer", better).tags["gate.production.result"] == \
        "passed"
    entry = client.registry.history("scorer", better)[-1]
    assert entry.reason.startswith("retrained; evaluation gates passed on dataset")
    assert "roc_auc" in entry.reason and f"(v{good})" in entry.reason
    client.registry.set_stage("scorer", bad, "staging")  # not gated: staging


def test_gates_on_unknown_metrics_are_refused_before_anything_changes(client: Client) -> None:
    client.log_model(None, _Const(), "m", input_example=pd.DataFrame({"a": [1.0]}))
    with pytest.raises(InvalidArgumentError, match="unknown evaluation metric 'auc_pr'"):
        client.deployments.set_eval_gates("m", ["auc_pr:min=0.5"], dataset="x.parquet")
    with pytest.raises(InvalidArgumentError, match="needs a bound"):
        client.deployments.set_eval_gates("m", ["accuracy"], dataset="x.parquet")
    assert client.deployments.get_eval_gates("m") is None
    client.registry.set_stage("m", 1, "production")  # no gates: moves freely


class _Const:
    def predict(self, x: Any) -> Any:
        return np.zeros(len(x))


def _context(client: Client, action: str, deployment: str) -> tuple[dict[str, Any],
                                                                     ActionContext]:
    from modelplane.core.timeutil import utcnow

    now = utcnow()
    rule = Rule(id="r", model="m", name="errors", metric="error_rate", op=">",
                threshold=0.1, window="5m", version=None, cooldown_s=60,
                actions=[{"type": action, "deployment": deployment}], enabled=True,
                last_fired_at=None, created_at=now, updated_at=now)
    alert = Alert(id="a", rule_id="r", model="m", rule_name="errors", metric="error_rate",
                  op=">", threshold=0.1, value=0.3, window="5m", version=None,
                  status="pending", actions=[], fired_at=now, updated_at=now)
    action_spec = {"type": action, "deployment": deployment}
    return action_spec, ActionContext(alert, rule, {"deployment": deployment})


def test_alert_actions_roll_back_canaries_and_switches(client: Client) -> None:
    for _ in range(2):
        client.log_model(None, _Const(), "m", input_example=pd.DataFrame({"a": [1.0]}))
    client.registry.set_stage("m", 1, "production")
    service = client.deployments
    service.create("live", "m")
    service.start_canary("live", 2)
    # a rule naming the action is accepted (the action is registered)
    client.monitoring.create_rule("m", "errors", "error_rate", 0.1,
                                  actions=[{"type": "fail_canary_gate", "deployment": "live"}])
    outcome = client.monitoring.actions.run(*_context(client, "fail_canary_gate", "live"))
    assert outcome["status"] == "ok", outcome
    canary = service.get("live").canary
    assert canary is not None and canary.status == "rolled_back"
    assert "alert 'errors' fired: error_rate 0.3 > 0.1" in canary.reason
    service.set_traffic("live", ["blue:1=100", "green:2=0"])
    service.switch("live", "green")
    outcome = client.monitoring.actions.run(*_context(client, "rollback_deployment",
                                                            "live"))
    assert outcome["status"] == "ok" and outcome["did"] == "switched_back"
    assert service.get("live").weights() == {"blue": 100.0, "green": 0.0}
    failed = client.monitoring.actions.run(*_context(client, "rollback_deployment",
                                                           "nope"))
    assert failed["status"] == "failed" and "does not exist" in failed["error"]
