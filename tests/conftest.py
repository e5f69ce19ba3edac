"""Shared fixtures: an isolated modelplane home per test, and the real PostgreSQL and
Redis servers selected by ``MODELPLANE_TEST_POSTGRES_URL`` / ``MODELPLANE_TEST_REDIS_URL``.

Without those variables the backend cases skip with the reason; with ``CI=true`` they
fail instead, so CI can never pass by skipping the real servers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_ENV = "MODELPLANE_TEST_POSTGRES_URL"
REDIS_ENV = "MODELPLANE_TEST_REDIS_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_server(env: str, what: str) -> str:
    """The URL in ``env``; skip (or fail under CI=true) when it is not set."""
    url = os.environ.get(env, "").strip()
    if url:
        return url
    reason = f"{what} tests need {env} (e.g. set by .ci/run); not set"
    if _in_ci():
        pytest.fail(f"{reason}, and CI=true forbids skipping them")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def mp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test runs against its own empty home and default backends."""
    from modelplane.core.config import reset_settings

    for name in list(os.environ):
        if name.startswith("MODELPLANE_") and not name.startswith("MODELPLANE_TEST_"):
            monkeypatch.delenv(name)
    home = tmp_path / "mphome"
    monkeypatch.setenv("MODELPLANE_HOME", str(home))
    reset_settings()
    yield home
    reset_settings()


@pytest.fixture
def trust_pickles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt this test's process (and the servers it starts) into loading pickle-stored
    models: for tests that serve small python-flavor models they define themselves."""
    from modelplane.core.config import reset_settings

    monkeypatch.setenv("MODELPLANE_ALLOW_PICKLE", "true")
    reset_settings()


def _admin_url() -> str:
    return require_server(POSTGRES_ENV, "PostgreSQL")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test (dropped afterwards)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(_admin_url()).set(drivername="postgresql+psycopg")
    name = f"mp_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        from modelplane.core.config import reset_settings

        reset_settings()  # disposes pooled connections to the test database
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, mp_home: Path) -> str:
    """Each metadata-store test runs on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{mp_home / 'modelplane.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def redis_url() -> str:
    return require_server(REDIS_ENV, "Redis")
