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
RULE_WINDOW, RULE_COOLDOWN = "15m", "30m"


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


def closed_loop_tour(client: Any, console: Any, data: dict[str, Any]) -> list[str]:
    """The tour; returns the request ids of the drifted traffic it sent."""
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
                  "reference profile from its training data; rule: drift_share > 0.3 over "
                  f"{RULE_WINDOW} starts the retraining pipeline (cooldown {RULE_COOLDOWN})")
    record = _record(client, MODEL)
    import httpx

    sent = []
    with _InProcessServer(client, poll=0.25) as url, httpx.Client(base_url=url) as http:
        for i in range(200):  # production traffic has moved: every feature 1.8x larger
            body = {k: v * 1.8 * (0.9 + 0.2 * ((i * 7919) % 100) / 100)
                    if isinstance(v, float) else v for k, v in record.items()}
            sent.append(http.post(f"/predict/{DEPLOYMENT}", json=body).headers["x-request-id"])
        _wait_for_log(monitoring, 200)
    drift = monitoring.drift(MODEL, "15m")
    console.print(f"[green]✓[/] 200 drifted requests served and logged; drift share "
                  f"{drift.share:.0%} of {len(drift.result.columns)} columns")
    alerts = monitoring.evaluate_rules(MODEL, wait_for_actions=True, timeout=300)
    for alert in alerts:
        console.print(f"[yellow]![/] alert {alert.rule_name}: {alert.metric} = "
                      f"{alert.value:.2f} {alert.op} {alert.threshold:g} -> {alert.status}: "
                      f"{alert.actions}")
    version = _retrained_version(client, console, alerts)
    if version is None:
        return sent
    if version == production:
        console.print(f"[green]✓[/] {MODEL}:{version} already serves all traffic: no canary")
        _bad_release(client, console, data)
        return sent
    done = canary_tour(client, console, model=MODEL, version=version, deployment=DEPLOYMENT,
                       steps=(10, 50, 100), hold=0.5, hold_requests=15,
                       promote_stage="production")
    now = client.registry.resolve(f"models:/{MODEL}@production").version
    console.print(f"[green]✓[/] canary {done['status']}: production is {MODEL}:{now}, "
                  f"{done['failures']} of {done['requests']} requests failed during rollout")
    _bad_release(client, console, data)
    console.print(f"[green]✓[/] rule drift-retrain stays: its {RULE_COOLDOWN} cooldown outlasts "
                  f"its {RULE_WINDOW} window, so this traffic cannot fire it again, and a "
                  "retrain that changes nothing registers nothing")
    return sent


def _ensure_rule(monitoring: Any) -> None:
    """The rule, new each time (a second quickstart must be able to fire it now). Its
    cooldown outlasts its window: once fired, the traffic that fired it has left the
    window before it may fire again, so it never loops on the same drift."""
    from modelplane.core.errors import NotFoundError

    with contextlib.suppress(NotFoundError):
        monitoring.delete_rule(MODEL, "drift-retrain")
    monitoring.create_rule(MODEL, "drift-retrain", "drift_share", 0.3, op=">",
                           window=RULE_WINDOW, cooldown=RULE_COOLDOWN, actions=[{
                               "type": "start_pipeline", "pipeline": RETRAIN,
                               "params": {"C": 0.5, "seed": 1, "auc_tolerance": 0.02},
                               "run_now": True}])


def _wait_for_log(monitoring: Any, count: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if monitoring.health(MODEL, "15m").overall.requests >= count:
            return
        time.sleep(0.2)


def _retrained_version(client: Any, console: Any, alerts: list[Any]) -> int | None:
    """The version the alert's pipeline run registered, or the one it found unchanged
    (a second quickstart retrains the same model: nothing new is registered)."""
    runs = [a["pipeline_run"] for alert in alerts for a in alert.actions
            if a.get("pipeline_run") and a.get("pipeline_status") == "succeeded"]
    if not runs:
        console.print("[red]✗[/] the retraining pipeline did not run")
        return None
    report = client.pipelines.load_output(runs[0], "register")
    if report.get("version"):
        console.print(f"[green]✓[/] retraining pipeline ran on fresh data: {MODEL}:"
                      f"{report['version']} registered and moved to staging ("
                      f"{'; '.join(report['reasons'])})")
        return int(report["version"])
    if report.get("unchanged_from"):
        console.print(f"[green]✓[/] retraining pipeline ran: the model is unchanged, "
                      f"{MODEL}:{report['unchanged_from']} (same data, code and params), so "
                      "nothing new was registered; canarying that version")
        return int(report["unchanged_from"])
    console.print(f"[yellow]![/] the gate refused the retrained model: "
                  f"{'; '.join(report['reasons'])}")
    return None


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
