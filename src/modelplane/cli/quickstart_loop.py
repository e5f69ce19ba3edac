"""The closed loop of ``modelplane quickstart``: serve the production model through a
deployment, send drifted traffic, let the drift alert start the retraining pipeline,
canary the new version to full traffic and promote it; then canary a bad version and
watch it rolled back automatically."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import numpy as np

__all__ = ["closed_loop_tour"]

MODEL = "breast-cancer"
DEPLOYMENT = "breast-cancer-live"
RETRAIN = "modelplane.pipelines.examples:breast_cancer"


class FlakyModel:
    """A bad release: fails about 30% of requests (never on its own input example)."""

    def __init__(self, good: Any, example: Any) -> None:
        self.good = good
        self.safe = {round(float(s), 6) for s in np.asarray(example, dtype=float).sum(axis=1)}

    def predict(self, x: Any) -> Any:
        import warnings

        sums = np.asarray(x, dtype=float).sum(axis=1)
        for s in sums:
            if round(float(s), 6) not in self.safe and int(abs(s) * 1e4) % 10 < 3:
                raise RuntimeError("bad release: cannot score this input")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # column names: the wrapped model saw a frame
            return self.good.predict(x)


def closed_loop_tour(client: Any, console: Any, data: dict[str, Any]) -> None:
    from modelplane.cli.canary_tour import _InProcessServer, _record, canary_tour

    console.rule("[bold]the closed loop: drift -> retrain -> canary -> promote")
    features = data["features"]
    monitoring = client.monitoring
    monitoring.set_reference(MODEL, data=data["train"][features])
    _ensure_rule(monitoring)
    deployments = client.deployments
    try:
        deployments.get(DEPLOYMENT)
    except Exception:
        deployments.create(DEPLOYMENT, MODEL, {"production": 100},
                           description="quickstart: the served breast-cancer model")
    production = client.registry.resolve(f"models:/{MODEL}@production").version
    console.print(f"[green]✓[/] deployment {DEPLOYMENT}: 100% on {MODEL}:{production}; "
                  "reference profile from its training data; rule: drift_share > 0.3 "
                  "starts the retraining pipeline")
    record = _record(client, MODEL)
    import httpx

    with _InProcessServer(client, poll=0.25) as url, httpx.Client(base_url=url) as http:
        for i in range(200):  # production traffic has moved: every feature 1.8x larger
            body = {k: v * 1.8 * (0.9 + 0.2 * ((i * 7919) % 100) / 100)
                    if isinstance(v, float) else v for k, v in record.items()}
            http.post(f"/predict/{DEPLOYMENT}", json=body)
        _wait_for_log(monitoring, 200)
    drift = monitoring.drift(MODEL, "15m")
    console.print(f"[green]✓[/] 200 drifted requests served and logged; drift share "
                  f"{drift.share:.0%} of {len(drift.result.columns)} columns")
    alerts = monitoring.evaluate_rules(MODEL, wait_for_actions=True, timeout=300)
    version = _retrained_version(client, production)
    for alert in alerts:
        console.print(f"[yellow]![/] alert {alert.rule_name}: {alert.metric} = "
                      f"{alert.value:.2f} {alert.op} {alert.threshold:g} -> {alert.status}: "
                      f"{alert.actions}")
    if version is None:
        console.print("[red]✗[/] the retraining pipeline did not register a version")
        return
    console.print(f"[green]✓[/] retraining pipeline ran on fresh data: {MODEL}:{version} "
                  "registered and moved to staging (it passed the AUC gate)")
    done = canary_tour(client, console, model=MODEL, version=version, deployment=DEPLOYMENT,
                       steps=(10, 50, 100), hold=0.5, hold_requests=15,
                       promote_stage="production")
    now = client.registry.resolve(f"models:/{MODEL}@production").version
    console.print(f"[green]✓[/] canary {done['status']}: production is {MODEL}:{now}, "
                  f"{done['failures']} of {done['requests']} requests failed during rollout")
    _bad_release(client, console, data)


def _ensure_rule(monitoring: Any) -> None:
    from modelplane.core.errors import AlreadyExistsError

    with contextlib.suppress(AlreadyExistsError):  # a second quickstart reuses the rule
        monitoring.create_rule(MODEL, "drift-retrain", "drift_share", 0.3, op=">",
                               window="15m", cooldown="1m", actions=[{
                                   "type": "start_pipeline", "pipeline": RETRAIN,
                                   "params": {"C": 0.5, "seed": 1, "auc_tolerance": 0.02},
                                   "run_now": True}])


def _wait_for_log(monitoring: Any, count: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if monitoring.health(MODEL, "15m").overall.requests >= count:
            return
        time.sleep(0.2)


def _retrained_version(client: Any, before: int) -> int | None:
    newest = client.registry.get_latest_version(MODEL)
    return newest.version if newest.version > before and newest.stage == "staging" else None


def _bad_release(client: Any, console: Any, data: dict[str, Any]) -> None:
    from modelplane.cli.canary_tour import canary_tour

    good = client.load_model(f"models:/{MODEL}@production").raw
    example = data["train"][data["features"]].iloc[:5]
    bad = client.log_model(None, FlakyModel(good, example), MODEL, input_example=example,
                           flavor="python", description="quickstart: a bad release")
    console.print(f"[green]✓[/] {MODEL}:{bad.version} registered (it fails ~30% of requests)")
    quiet = logging.getLogger("modelplane")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the server would log each failed request's traceback
    try:
        done = canary_tour(client, console, model=MODEL, version=bad.version,
                           deployment=DEPLOYMENT, steps=(10, 50, 100), hold=0.5,
                           hold_requests=15)
    finally:
        quiet.setLevel(level)
    now = client.registry.resolve(f"models:/{MODEL}@production").version
    console.print(f"[green]✓[/] canary of {MODEL}:{bad.version} {done['status']}; traffic is "
                  f"back on {MODEL}:{now}")
