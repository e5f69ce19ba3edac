"""``modelplane quickstart`` on a fresh home, as a new user runs it."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import cli


def test_quickstart_on_a_fresh_home(mp_home: Path) -> None:
    assert not mp_home.exists()
    result = cli("quickstart", timeout=600)
    assert result.returncode == 0, result.stderr
    assert "metadata database ready" in result.stdout
    assert "artifact store ready" in result.stdout
    assert (mp_home / "modelplane.db").exists()
    # a second run reuses the same home
    again = cli("quickstart", timeout=600)
    assert again.returncode == 0, again.stderr
