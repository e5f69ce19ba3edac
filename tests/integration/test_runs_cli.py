"""``modelplane runs`` and ``modelplane experiments`` through the real entry point, on
runs seeded in this process (``mp_home`` points both at the same home)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from modelplane.client import Client
from tests.integration.conftest import cli


def _one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def runs(mp_home: Path, tmp_path: Path) -> dict[str, str]:
    """Three finished runs in ``churn`` (one with a dataset and an artifact), one in
    ``other``."""
    import pandas as pd

    client = Client()
    ids = {}
    for name, c, auc in (("alpha", "0.1", 0.71), ("beta", "1.0", 0.93), ("gamma", "10", 0.85)):
        with client.start_run("churn", name=name, params={"C": c}, tags={"team": "risk"},
                              synchronous=True) as run:
            for step in range(12):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
            run.log_metric("auc", auc)
        ids[name] = run.id
    with client.start_run("churn", name="with-data") as run:
        run.log_dataset(pd.DataFrame({"x": [1, 2, 3]}), name="train-set")
        (tmp_path / "notes.txt").write_text("hi")
        run.log_artifact(tmp_path / "notes.txt")
    ids["with-data"] = run.id
    with client.start_run("other", name="elsewhere") as run:
        run.log_metric("auc", 0.5)
    ids["elsewhere"] = run.id
    return ids


def test_runs_list_table_filter_order_and_json(runs: dict[str, str]) -> None:
    table = cli("runs", "list", "--experiment", "churn", "--filter",
                "metrics.auc > 0.8 and (params.C = '1.0' or params.C = '10')",
                "--order-by", "metrics.auc desc")
    assert table.returncode == 0, table.stderr
    assert runs["beta"] in table.stdout and runs["gamma"] in table.stdout
    assert runs["alpha"] not in table.stdout and "elsewhere" not in table.stdout
    assert table.stdout.index("beta") < table.stdout.index("gamma")
    for column in ("id", "name", "status", "start", "duration", "auc", "loss", "param C"):
        assert column in table.stdout
    assert "0.93" in table.stdout and "finished" in table.stdout

    listed = json.loads(cli("runs", "list", "--max", "2", "--order-by", "name",
                            "--json").stdout)
    assert [r["name"] for r in listed] == ["alpha", "beta"]
    assert listed[0]["params"] == {"C": "0.1"} and listed[0]["start_time"].endswith("+00:00")

    error = _one_line_error(cli("runs", "list", "--filter", "metrics.auc > and"))
    assert "position 14" in error
    assert "--max" in _one_line_error(cli("runs", "list", "--max", "0"), code=2)


def test_runs_show_and_history(runs: dict[str, str]) -> None:
    shown = cli("runs", "show", runs["with-data"])
    assert shown.returncode == 0, shown.stderr
    for text in ("with-data", "churn", "train-set", "notes.txt", "code version", "finished"):
        assert text in shown.stdout
    data = json.loads(cli("runs", "show", runs["beta"], "--json").stdout)
    assert data["experiment"] == "churn" and data["params"] == {"C": "1.0"}
    assert data["metrics"]["auc"] == 0.93 and data["tags"] == {"team": "risk"}

    history = cli("runs", "history", runs["beta"], "loss", "--tail", "5")
    assert history.returncode == 0, history.stderr
    spark = next(line for line in history.stdout.splitlines() if line.startswith("loss"))
    assert spark.split()[1][0] == "█" and spark.split()[1][-1] == "▁"
    assert "12 points" in spark and "last 5 of 12 points" in history.stdout
    points = json.loads(cli("runs", "history", runs["beta"], "loss", "--json").stdout)
    assert [p["step"] for p in points] == list(range(12)) and points[3]["value"] == 0.25

    assert "no metric 'acc'; it has auc, loss" in _one_line_error(
        cli("runs", "history", runs["beta"], "acc"))
    assert "'no-such-run'" in _one_line_error(cli("runs", "show", "no-such-run"))


def test_runs_delete_restore_and_fail_stale(runs: dict[str, str]) -> None:
    from modelplane.tracking.service import RunOrigin

    deleted = cli("runs", "delete", runs["alpha"])
    assert deleted.returncode == 0 and "modelplane runs restore" in deleted.stdout
    listed = [r["id"] for r in json.loads(cli("runs", "list", "--json").stdout)]
    assert runs["alpha"] not in listed and runs["beta"] in listed

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    tracking = Client().tracking
    stale = tracking.start_run("churn", origin=RunOrigin(host=socket.gethostname(),
                                                         pid=int(gone.stdout)))
    result = cli("runs", "fail-stale")
    assert result.returncode == 0, result.stderr
    assert stale.id in result.stdout and "1 stale run marked failed" in result.stdout
    assert tracking.get_run(stale.id).status == "failed"
    assert "'nope'" in _one_line_error(cli("runs", "delete", "nope"))


def test_experiments_commands(mp_home: Path) -> None:
    assert cli("experiments", "create", "fraud", "--description", "card fraud").returncode == 0
    assert "already exists" in _one_line_error(cli("experiments", "create", "fraud"))
    assert cli("experiments", "rename", "fraud", "fraud-v2").returncode == 0
    assert cli("experiments", "delete", "fraud-v2").returncode == 0
    assert json.loads(cli("experiments", "list", "--json").stdout) == []
    assert cli("experiments", "restore", "fraud-v2").returncode == 0
    table = cli("experiments", "list").stdout
    assert "fraud-v2" in table and "card fraud" in table
    assert "'ghost'" in _one_line_error(cli("experiments", "delete", "ghost"))
