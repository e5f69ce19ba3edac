"""``modelplane models`` through the real entry point."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.registry import RegistryService
from modelplane.store.db import get_database
from tests.integration.conftest import cli


@pytest.fixture
def seeded(mp_home: Path) -> Iterator[RegistryService]:
    """A model ``churn`` with three versions in this test's home."""
    registry = RegistryService(get_database())
    for auc in (0.8, 0.85, 0.9):
        registry.create_version("churn", artifact_digest="ab" * 32, flavor="sklearn",
                                metrics={"auc": auc})
    yield registry


def _ok(*args: str) -> str:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _fails(*args: str) -> str:
    result = cli(*args)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_list_show_and_versions(seeded: RegistryService) -> None:
    assert "churn" in _ok("models", "list")
    models = json.loads(_ok("models", "list", "--json"))
    assert [(m["name"], m["latest_version"]) for m in models] == [("churn", 3)]
    shown = json.loads(_ok("models", "show", "churn", "--json"))
    assert shown["name"] == "churn" and [v["version"] for v in shown["versions"]] == [3, 2, 1]
    assert "latest version" in _ok("models", "show", "churn")
    versions = json.loads(_ok("models", "versions", "churn", "--json"))
    assert [(v["version"], v["stage"]) for v in versions] == [
        (3, "development"), (2, "development"), (1, "development")]
    assert "development" in _ok("models", "versions", "churn")


def test_stage_alias_rollback_and_history(seeded: RegistryService) -> None:
    for version in ("1", "2"):
        assert "is in production" in _ok("models", "stage", "churn", version, "production",
                                         "--reason", "better", "--actor", "ops")
    assert seeded.resolve("churn@production").version == 2
    assert "version 3" in _ok("models", "alias", "churn", "champion", "3")
    assert seeded.get_by_alias("churn", "champion").version == 3
    assert "rolled back" in _ok("models", "rollback", "churn")
    assert seeded.resolve("churn@production").version == 1
    _ok("models", "alias", "churn", "champion", "--delete")
    assert seeded.get_model("churn").aliases == {}

    entries = json.loads(_ok("models", "history", "churn", "--json"))
    assert [e["action"] for e in entries] == [
        "create", "create", "create", "stage", "stage", "alias", "rollback", "alias_delete"]
    assert entries[3]["actor"] == "ops" and entries[3]["reason"] == "better"
    assert entries[4]["displaced_version"] == 1
    assert "rollback" in _ok("models", "history", "churn")


def test_errors_are_one_line(seeded: RegistryService) -> None:
    assert "'chrun' not found; did you mean 'churn'?" in _fails("models", "show", "chrun")
    line = _fails("models", "stage", "churn", "1", "prod")
    assert "development, staging, production, archived" in line
    assert "version 9 of model 'churn' not found" in _fails(
        "models", "stage", "churn", "9", "production")
    assert "no previous production version" in _fails("models", "rollback", "churn")
    assert "only digits" in _fails("models", "alias", "churn", "42", "1")
    assert "'nope' not found" in _fails("models", "history", "nope")
