"""``modelplane pipelines ...`` and ``modelplane scheduler`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import cli

ROOT = Path(__file__).resolve().parents[2]
FLOW = "tests.unit.pipelines.flows:simple"


def _cli(*args: str, env: dict[str, str] | None = None) -> object:
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "modelplane", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=120)


def test_run_explain_show_list_resume() -> None:
    first = _cli("pipelines", "run", FLOW, "-p", "n=4", "-p", "scale=2", "--json")
    assert first.returncode == 0, first.stderr
    run = json.loads(first.stdout)
    assert run["status"] == "succeeded" and run["params"] == {"n": 4, "scale": 2.0}
    again = _cli("pipelines", "run", FLOW, "-p", "n=4", "-p", "scale=2", "--explain-cache")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("hit: same source, parameters, inputs and environment") == 3
    shown = _cli("pipelines", "show", run["id"])
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    assert "simple" in lines[0] and "succeeded" in lines[0]
    assert any("load" in line and "succeeded" in line for line in lines)
    assert any("summary" in line and "also after load" in line for line in lines)
    listed = json.loads(_cli("pipelines", "list", "--json").stdout)
    assert len(listed) == 2

    failed = _cli("pipelines", "run", FLOW, "-p", "n=5",
                  env={"MP_TEST_FAIL_STEPS": "features"})
    assert failed.returncode == 1
    assert "error: pipeline run" in failed.stderr and "injected failure in features" in \
        failed.stderr
    failed_id = failed.stderr.split("pipeline run ")[1].split()[0]
    resumed = _cli("pipelines", "resume", failed_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    steps = json.loads(resumed.stdout)["steps"]
    assert [s["status"] for s in steps] == ["succeeded", "succeeded", "succeeded"]


def test_bad_input_is_one_line_before_anything_runs() -> None:
    unknown = _cli("pipelines", "run", FLOW, "-p", "rows=3")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == ("error: pipeline 'simple' has no parameter 'rows'; it "
                                      "accepts: n, scale")
    typed = _cli("pipelines", "run", FLOW, "-p", "n=many")
    assert typed.stderr.strip() == "error: parameter n: expected int, got 'many'"
    cron = _cli("pipelines", "schedule", FLOW, "--cron", "0 3 * *")
    assert cron.returncode == 1 and "does not parse" in cron.stderr
    missing = _cli("pipelines", "run", "tests.nowhere:flow")
    assert missing.returncode == 1 and "cannot import 'tests.nowhere'" in missing.stderr
    assert json.loads(_cli("pipelines", "list", "--json").stdout) == []


def test_schedule_trigger_and_scheduler_once() -> None:
    made = _cli("pipelines", "schedule", FLOW, "--cron", "0 3 * * *", "-p", "n=2")
    assert made.returncode == 0, made.stderr
    assert "schedule simple:" in made.stdout
    listed = json.loads(_cli("pipelines", "schedules", "--json").stdout)
    assert listed[0]["cron"] == "0 3 * * *" and listed[0]["params"] == {"n": 2}
    queued = _cli("pipelines", "trigger", FLOW, "-p", "n=3", "--reason", "drift alert")
    assert queued.returncode == 0, queued.stderr
    ticked = _cli("scheduler", "--once")
    assert ticked.returncode == 0, ticked.stderr
    assert "1 pipeline run(s)" in ticked.stdout
    runs = json.loads(_cli("pipelines", "list", "--json").stdout)
    assert runs[0]["trigger"] == "event: drift alert" and runs[0]["params"]["n"] == 3
    assert cli  # the shared helper stays importable for other CLI tests
