"""The ``modelplane`` command through its real entry point."""

from __future__ import annotations

import json
from pathlib import Path

from modelplane.__about__ import __version__
from tests.integration.conftest import cli


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"modelplane {__version__}"


def test_info_reports_where_everything_lives(mp_home: Path) -> None:
    result = cli("info", "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["home"] == str(mp_home)
    assert facts["database_backend"] == "sqlite"
    assert facts["artifact_root"] == str(mp_home / "artifacts")
    assert len(facts["installation_id"]) == 32


def test_bad_database_url_is_one_line_naming_the_variable() -> None:
    result = cli("info", env={"MODELPLANE_DATABASE_URL": "foo://x"})
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: MODELPLANE_DATABASE_URL: unsupported scheme 'foo'")
    assert "sqlite:///" in lines[0] and "postgresql+psycopg://" in lines[0]
    assert "Traceback" not in result.stderr


def test_debug_flag_shows_the_traceback() -> None:
    result = cli("--debug", "info", env={"MODELPLANE_DATABASE_URL": "foo://x"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_db_upgrade_is_idempotent() -> None:
    first = cli("db", "upgrade")
    second = cli("db", "upgrade")
    assert first.returncode == 0 and second.returncode == 0
    assert "upgraded from none" in first.stdout
    assert "already at head" in second.stdout
    assert cli("db", "current").stdout.strip() != "none (empty database)"


def test_server_insecure_warns_on_start() -> None:
    import socket

    with socket.socket() as taken:  # the server warns, then fails to bind a taken port
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("server", "--host", "0.0.0.0", "--port", port, "--insecure", timeout=60)
    assert "WARNING: --insecure" in result.stderr
    assert result.returncode != 0


def test_usage_errors_exit_2_without_traceback() -> None:
    result = cli("no-such-command")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: No such command 'no-such-command'."


def test_unreachable_database_is_one_line() -> None:
    result = cli("info", env={
        "MODELPLANE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x?connect_timeout=2"})
    assert result.returncode == 1
    assert result.stderr.startswith("error: the metadata database is unavailable")
    assert len(result.stderr.strip().splitlines()) == 1
