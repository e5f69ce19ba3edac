"""``modelplane quickstart`` on a fresh home, as a new user runs it."""

from __future__ import annotations

from pathlib import Path

import modelplane as mp
from tests.integration.conftest import cli


def test_quickstart_on_a_fresh_home(mp_home: Path) -> None:
    assert not mp_home.exists()
    result = cli("quickstart", timeout=600)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())  # Rich wraps lines at the terminal width
    assert "registered breast-cancer:1" in out and "registered breast-cancer:2" in out
    assert "rollback: production is breast-cancer:1 again" in out
    assert "models:/breast-cancer@production loaded" in out
    assert "feature view patient_vitals v1" in out and "patients online" in out
    assert "Traceback" not in out + result.stderr

    client = mp.Client()
    assert client.registry.resolve("models:/breast-cancer@champion").version == 1
    assert client.registry.get_version("breast-cancer", 2).stage == "archived"
    runs = client.tracking.search_runs("status = 'finished'", experiments=["quickstart"]).runs
    assert len(runs) == 2 and all(r.metrics["auc"] > 0.9 for r in runs)
    assert {d.role for d in client.tracking.run_datasets(runs[0].id)} == {"train", "eval"}

    # the closed loop: drift alert -> retraining pipeline -> canary -> production;
    # then a bad release canaried and rolled back
    assert "drift-retrain: drift_share" in out
    assert "breast-cancer:3 registered and moved to staging" in out
    assert "canary succeeded: production is breast-cancer:3" in out
    assert "canary of breast-cancer:4 rolled_back; traffic is back on breast-cancer:3" in out
    assert client.registry.resolve("models:/breast-cancer@production").version == 3
    assert client.deployments.get("breast-cancer-live").canary.status == "rolled_back"

    # no loop left running: the rule cannot fire again on this traffic (its cooldown
    # outlasts its window), and the retraining it runs, if it did, would register nothing
    rule = client.monitoring.get_rule("breast-cancer", "drift-retrain")
    from modelplane.monitoring.windows import parse_duration

    assert rule.cooldown_s >= parse_duration(rule.window)
    assert client.monitoring.evaluate_rules("breast-cancer", wait_for_actions=True) == []
    action = rule.actions[0]
    rerun = client.pipelines.run(action["pipeline"], action["params"])
    report = client.pipelines.load_output(rerun.id, "register")
    assert report["decision"] == "unchanged" and report["unchanged_from"] == 3
    assert client.registry.get_model("breast-cancer").latest_version == 4
    assert "within tolerance 0.02" in client.registry.get_version("breast-cancer", 3).description
    samples = mp_home / "quickstart"
    assert {p.name for p in samples.iterdir()} == {"record.json", "rows.csv", "labels.csv"}
    assert len((samples / "labels.csv").read_text().splitlines()) == 201
    assert client.registry.resolve("models:/diagnosis@production").version == 1

    again = cli("quickstart", timeout=600)  # a second run reuses the same home
    assert again.returncode == 0, again.stderr
    second = " ".join(again.stdout.split())
    assert "registered breast-cancer:5" in second
    assert "the model is unchanged, breast-cancer:3" in second  # nothing new to register
