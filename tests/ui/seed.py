"""A small but complete modelplane home for the UI tests (and for looking at the UI by hand:
``python -m tests.ui.seed HOME`` then ``MODELPLANE_HOME=HOME modelplane server``).

What it holds, and what the tests rely on:
- experiment ``churn``: runs ``lr-C1`` (C=1.0, auc 0.93, loss over 5 steps),
  ``lr-C0.1`` (C=0.1, auc 0.88, loss over 3 steps), each with a training dataset, an
  artifact ``notes.txt`` and a folder ``plots/`` holding ``curve.png``; ``broken``
  (failed, no metrics);
- registered model ``churn``: v1 from ``lr-C1`` (production, alias ``champion``), v2 from
  ``lr-C0.1`` (production for a while, then rolled back: archived), v3 (staging);
- deployment ``churn-live``: production 80, staging 20; ``churn-canary``: a canary of v3
  at its first step (10%) against production; ``churn-rolled-back``: a canary of v3 that
  was rolled back at its first step;
- a reference profile for ``churn`` (x1 ~ N(0, 1), x2 ~ N(5, 1), plan in a/b, and a
  column with a long name, :data:`LONG`, ~ N(0, 1)) and an alert rule on drift share;
  predictions are sent over HTTP by :func:`send_traffic` (x1 shifted by +3, so x1
  drifts and the others do not);
- feature view ``customer_stats`` (materialized once) and feature service
  ``churn_features``;
- pipeline runs of ``ui-demo``: one succeeded, one with a failing step.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

MODEL = "churn"
DEPLOYMENT = "churn-live"
CANARY = "churn-canary"  # no traffic: its canary stays at the first step
EXPERIMENT = "churn"
LONG = "average_session_length_in_minutes_over_the_last_thirty_days_x3"
FEATURES = ("x1", "x2", "plan", LONG)
ROLLED_BACK = "churn-rolled-back"
#: a 2x2 PNG (red, green / blue, white)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a730000001249444154789c"
    "63f8cfc0c000c20cff8100001fee05fb0bd9688b0000000049454e44ae426082")
REQUESTS, ROWS_PER_REQUEST = 40, 5
ROWS = REQUESTS * ROWS_PER_REQUEST
NOTES = "trained on the January snapshot"
LOSS_C1 = [0.9, 0.6, 0.45, 0.38, 0.35]
LOSS_C01 = [0.95, 0.7, 0.55]


def _frame(n: int, shift: float, seed: int) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(shift, 1.0, n), "x2": rng.normal(5.0, 1.0, n),
                         "plan": rng.choice(["a", "b"], n), LONG: rng.normal(0.0, 1.0, n)})


class PlanModel:
    """A stand-in classifier: the score is a logistic of ``x1 - 0.2 * x2`` (plan ignored).
    Kept in this module so the python flavor pickles it by reference."""

    def predict(self, frame: Any) -> Any:
        z = np.asarray(frame["x1"], dtype=float) - 0.2 * np.asarray(frame["x2"], dtype=float)
        return (1.0 / (1.0 + np.exp(-z)) > 0.5).astype(int)


def seed(settings: Any) -> dict[str, Any]:
    """Fill the home of ``settings``; returns ids the tests need."""
    from modelplane.client import Client

    client = Client(settings)
    train = _frame(500, 0.0, seed=1)
    ids: dict[str, Any] = {}
    model = PlanModel()
    example = train.iloc[:3]
    versions = []
    for name, c, losses, auc in (("lr-C1", "1.0", LOSS_C1, 0.93),
                                 ("lr-C0.1", "0.1", LOSS_C01, 0.88)):
        with client.start_run(EXPERIMENT, name=name, params={"C": c, "solver": "lbfgs"},
                              tags={"team": "growth"}, synchronous=True) as run:
            for step, loss in enumerate(losses):
                run.log_metric("loss", loss, step=step)
            run.log_metric("auc", auc, step=len(losses) - 1)
            run.log_dataset(train, name="churn-train", role="train")
            with tempfile.TemporaryDirectory() as tmp:
                notes = Path(tmp) / "notes.txt"
                notes.write_text(f"{name}: {NOTES}\n")
                run.log_artifact(notes)
                (Path(tmp) / "plots").mkdir()
                (Path(tmp) / "plots" / "curve.png").write_bytes(PNG)
                run.log_artifacts(Path(tmp) / "plots", "plots")
            mv = run.log_model(model, MODEL, input_example=example, flavor="python")
            versions.append(mv.version)
            ids[name] = run.id
    with client.start_run(EXPERIMENT, name="broken", params={"C": "10"}) as run:
        ids["broken"] = run.id
    client.tracking.end_run(ids["broken"], "failed")
    registry = client.registry
    registry.set_allow_pickle(MODEL, True)  # an admin trusts this model's (python) pickles
    v3 = client.log_model(ids["lr-C1"], model, MODEL, input_example=example, flavor="python")
    registry.set_stage(MODEL, versions[0], "production", reason="first release")
    registry.set_stage(MODEL, versions[1], "production", reason="try the smaller C")
    registry.rollback(MODEL, "production", reason="auc dropped")
    registry.set_stage(MODEL, v3.version, "staging")
    registry.set_alias(MODEL, "champion", versions[0])
    ids["versions"] = [*versions, v3.version]

    client.deployments.create(DEPLOYMENT, MODEL, {"production": 80, "staging": 20},
                              description="churn scoring for the web app")
    client.deployments.create(CANARY, MODEL, {"production": 100})
    client.deployments.start_canary(CANARY, v3.version, steps=(10, 50, 100), hold="1h",
                                    gates=["error_rate:max=0.05"])
    client.deployments.create(ROLLED_BACK, MODEL, {"production": 100})
    client.deployments.start_canary(ROLLED_BACK, v3.version, steps=(10, 50, 100), hold="1h")
    client.deployments.fail_canary(ROLLED_BACK, "error_rate 0.2 > max 0.05")
    client.monitoring.set_reference(MODEL, train)
    client.monitoring.create_rule(MODEL, "x1-drift", "drift_share", 0.2, window="1h")
    _features(client)
    _pipelines(client)
    ids["pipeline_runs"] = [r.id for r in client.pipelines.list_runs("ui-demo")]
    return ids


def _features(client: Any) -> None:
    import pandas as pd

    from modelplane.features import Entity, FeatureService, FeatureView, Field, Float64

    rows = pd.DataFrame({"customer_id": [1, 2, 3],
                         "event_timestamp": pd.to_datetime(["2024-01-01"] * 3, utc=True),
                         "spend_30d": [10.0, 20.5, 3.25], "visits_30d": [1.0, 4.0, 2.0]})
    customer = Entity("customer", join_keys=["customer_id"], description="A customer.")
    stats = FeatureView("customer_stats", entities=[customer], source=rows,
                        schema=[Field("spend_30d", Float64), Field("visits_30d", Float64)],
                        description="Spend and visits over 30 days.")
    client.features.apply([stats, FeatureService("churn_features", [stats])])
    client.features.materialize(datetime(2023, 12, 1, tzinfo=UTC), datetime.now(UTC),
                                ["customer_stats"], progress=False)


def _pipelines(client: Any) -> None:
    from tests.ui import pipeline_demo

    client.pipelines.run(pipeline_demo.demo, {"fail": False})
    client.pipelines.run(pipeline_demo.demo, {"fail": True})


def send_traffic(http: Any) -> None:
    """:data:`REQUESTS` requests of :data:`ROWS_PER_REQUEST` rows to the deployment, x1
    shifted by +3 (drifted). A 503 (a version still loading) is retried for up to 60 s."""
    frame = _frame(ROWS, 3.0, seed=2)
    records = frame.to_dict(orient="records")
    deadline = time.monotonic() + 60
    for i in range(REQUESTS):
        body = records[i * ROWS_PER_REQUEST:(i + 1) * ROWS_PER_REQUEST]
        while (r := http.post(f"/predict/{DEPLOYMENT}", json=body)).status_code == 503:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        r.raise_for_status()


if __name__ == "__main__":
    from modelplane.core.config import Settings

    home = Path(sys.argv[1]).resolve()
    print(seed(Settings(home=home)))
