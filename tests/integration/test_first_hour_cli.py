"""A new user's first hour with the CLI, through the real entry point: help without
arguments, short run ids, typos, files where folders are wanted, unknown models, the
examples the help itself gives, and what a gated pipeline decided."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modelplane.client import Client
from modelplane.pipelines.gates import Gate
from tests.integration.conftest import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args", [(), ("models",), ("monitor", "rules")])
def test_a_group_without_a_command_prints_its_help(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: ") and "\nCommands:\n" in result.stdout
    assert len(result.stdout.splitlines()) > 8  # the help as --help prints it, not one line
    assert result.stdout == cli(*args, "--help").stdout


def test_runs_by_short_id_start_or_name_and_ambiguity_lists_them(mp_home: Path) -> None:
    client = Client()
    ids = []
    from sklearn.dummy import DummyClassifier

    for name in ("lr-C1", "lr-C0.1"):
        with client.start_run("churn", name=name) as run:
            run.log_metric("auc", 0.9)
            ids.append(run.id)
            if name == "lr-C1":
                run.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), "churn",
                              input_example=[[0.0]])
    listed = cli("runs", "show", "lr-C1")
    assert "models:/churn:1" in listed.stdout  # where a runs:/ URI's user is pointed
    for ref, want in ((ids[0][-8:], ids[0]), ("lr-C0.1", ids[1]), (ids[1], ids[1])):
        shown = cli("runs", "show", ref, "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["id"] == want
    history = cli("runs", "history", ids[0][-8:], "auc")
    assert history.returncode == 0 and "auc" in history.stdout
    shared = next(n for n in range(4, 32) if ids[0][:n] != ids[1][:n]) - 1
    ambiguous = cli("runs", "show", ids[0][:max(shared, 4)])
    assert ambiguous.returncode == 1 and len(ambiguous.stderr.splitlines()) == 1
    assert "matches 2 runs" in ambiguous.stderr
    assert ids[0] in ambiguous.stderr and ids[1] in ambiguous.stderr
    deleted = cli("runs", "delete", ids[1][-8:])
    assert deleted.returncode == 0 and ids[1] in deleted.stdout
    assert cli("runs", "restore", "lr-C0.1").returncode == 0
    typo = cli("runs", "list", "--experiment", "chrun")
    assert typo.returncode == 1
    assert typo.stderr.strip() == "error: experiment 'chrun' not found; did you mean 'churn'?"


def test_monitoring_an_unknown_model_is_an_error_naming_close_ones(mp_home: Path) -> None:
    from sklearn.dummy import DummyClassifier

    Client().log_model(None, DummyClassifier().fit([[0], [1]], [0, 1]), "breast-cancer",
                       input_example=[[0.0]])
    for args in (("report", "breast-cancr"), ("health", "breast-cancr"),
                 ("predictions", "breast-cancr"), ("alerts", "breast-cancr"),
                 ("rules", "list", "breast-cancr")):
        result = cli("monitor", *args)
        assert result.returncode == 1, args
        assert "did you mean 'breast-cancer'" in result.stderr, args
    assert cli("monitor", "report", "breast-cancer").returncode == 0


def test_the_action_example_in_the_help_is_accepted(mp_home: Path) -> None:
    from sklearn.dummy import DummyClassifier

    Client().log_model(None, DummyClassifier().fit([[0], [1]], [0, 1]), "breast-cancer",
                       input_example=[[0.0]])
    helped = cli("monitor", "rules", "add", "--help")
    example = re.search(r"--action\s+'(\{.*?\})'", " ".join(helped.stdout.split()))
    assert example is not None, helped.stdout
    added = cli("monitor", "rules", "add", "breast-cancer", "retrain", "--metric",
                "drift_share", "--threshold", "0.3", "--action", example.group(1))
    assert added.returncode == 0, added.stderr
    rules = json.loads(cli("monitor", "rules", "list", "breast-cancer", "--json").stdout)
    assert rules[0]["actions"][0]["type"] == "start_pipeline"


def test_features_apply_wants_the_repo_folder(mp_home: Path) -> None:
    file = ROOT / "examples" / "feature_repo" / "driver_repo.py"
    for command in ("plan", "apply"):
        result = cli("features", command, str(file))
        assert result.returncode == 1
        assert "is a file; give the repo folder instead" in result.stderr
        assert str(file.parent) in result.stderr
    missing = cli("features", "apply", "no/such/repo")
    assert missing.returncode == 1 and "expected the folder" in missing.stderr


def test_deploy_stats_takes_w_as_the_docs_write_it(mp_home: Path) -> None:
    from sklearn.dummy import DummyClassifier

    Client().log_model(None, DummyClassifier().fit([[0], [1]], [0, 1]), "churn",
                       input_example=[[0.0]], stage="production")
    assert cli("deploy", "create", "churn-live", "--model", "churn").returncode == 0
    stats = cli("deploy", "stats", "churn-live", "-w", "5m", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout) == {}


@pytest.mark.slow
def test_pipelines_run_says_what_the_gate_decided_and_lineage_is_a_tree(
        mp_home: Path) -> None:
    flow = "modelplane.pipelines.examples:breast_cancer"
    first = cli("pipelines", "run", flow, "-p", "C=0.5", timeout=300)
    assert first.returncode == 0, first.stderr
    assert "gate passed: registered breast-cancer:1 → staging" in first.stdout
    assert "register succeeded" in first.stdout  # the step ran; the line after says what
    Client().registry.set_stage("breast-cancer", 1, "production")
    again = cli("pipelines", "run", flow, "-p", "C=0.5", timeout=300)
    assert "model unchanged: it is the artifact breast-cancer:1" in again.stdout
    assert "nothing registered" in again.stdout
    worse = cli("pipelines", "run", flow, "-p", "C=0.001", timeout=300)
    assert "gate refused the candidate: nothing registered (auc" in worse.stdout
    assert Client().registry.get_model("breast-cancer").latest_version == 1

    tree = cli("pipelines", "lineage", "models:/breast-cancer@production")
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0].startswith("models:/breast-cancer:1 ← pipeline breast-cancer run")
    assert any("model ← train" in line for line in lines)
    assert any("eval_data ← prepare_data: dataframe" in line for line in lines)
    assert len(lines) < 40  # a tree, not a thousand lines of JSON
    records = json.loads(cli("pipelines", "lineage", "models:/breast-cancer:1", "--json").stdout)
    assert records["model"] == "breast-cancer" and records["version"] == 1
    newest = cli("pipelines", "lineage", "breast-cancer")  # a pipeline name: its newest run
    assert newest.returncode == 0 and "gate refused" not in newest.stdout
    assert "pipeline breast-cancer run" in newest.stdout.splitlines()[0]
    shown = cli("pipelines", "show", json.loads(cli("pipelines", "list", "--json").stdout)[
        -1]["id"][-8:])
    assert shown.returncode == 0 and "breast-cancer" in shown.stdout


@pytest.mark.parametrize(("candidate", "production", "passed", "reason"), [
    (0.99, 0.98, True, "auc 0.99 beats production 0.98 by 0.01"),
    (0.98, 0.98, True, "auc 0.98 equals production 0.98: not better, within tolerance 0.02"),
    (0.97, 0.98, True, "auc 0.97 is 0.01 below production 0.98: not better, within tolerance"),
    (0.95, 0.98, False, "auc 0.95 does not beat production 0.98 (min delta -0.02)"),
])
def test_gate_reasons_never_say_beats_when_not_better(
        candidate: float, production: float, passed: bool, reason: str) -> None:
    ok, why = Gate("auc", min_delta=-0.02).check(candidate, production)
    assert ok is passed and why.startswith(reason), why
    rmse_ok, rmse_why = Gate("rmse", min_delta=-0.1).check(1.05, 1.0)
    assert rmse_ok and "is 0.05 above production 1: not better, within tolerance 0.1" in rmse_why
