from __future__ import annotations

from pathlib import Path

import pytest

import modelplane as mp
from modelplane.core.config import configure, get_settings, reset_settings
from modelplane.core.errors import ConfigurationError, ModelplaneError


def test_defaults_live_in_the_home(mp_home: Path) -> None:
    settings = get_settings()
    assert settings.home == mp_home
    assert settings.database_url == f"sqlite:///{mp_home / 'modelplane.db'}"
    assert settings.artifact_root == str(mp_home / "artifacts")
    assert settings.online_store_url == f"sqlite:///{mp_home / 'online.db'}"
    assert not settings.is_remote


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELPLANE_DATABASE_URL", "postgresql://u:secret@db:5432/mp")
    monkeypatch.setenv("MODELPLANE_ARTIFACT_ROOT", "memory://bucket")
    monkeypatch.setenv("MODELPLANE_ONLINE_STORE_URL", "redis://localhost:6379/0")
    reset_settings()
    settings = get_settings()
    # plain postgresql:// is normalised onto the psycopg 3 driver
    assert settings.database_url == "postgresql+psycopg://u:secret@db:5432/mp"
    assert settings.redacted(settings.database_url) == "postgresql+psycopg://u:***@db:5432/mp"
    assert settings.artifact_root == "memory://bucket"
    assert settings.online_store_url.startswith("redis://")


def test_configure_overrides_environment_and_can_be_undone(tmp_path: Path) -> None:
    mp.configure(home=str(tmp_path / "other"))
    assert get_settings().home == tmp_path / "other"
    configure(home=None)
    assert get_settings().home != tmp_path / "other"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MODELPLANE_DATABASE_URL", "foo://x", "sqlite:///PATH"),
        ("MODELPLANE_ARTIFACT_ROOT", "nosuchproto://bucket", "fsspec URL"),
        ("MODELPLANE_ONLINE_STORE_URL", "memcached://x", "redis://"),
        ("MODELPLANE_SERVER_URL", "ftp://x", "http://"),
        ("MODELPLANE_MAX_REQUEST_BYTES", "-5", "positive"),
    ],
)
def test_bad_environment_values_fail_fast_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    reset_settings()
    with pytest.raises(ConfigurationError) as info:
        get_settings()
    assert info.value.message.startswith(f"{variable}: ")
    assert expected in info.value.message
    assert info.value.details["field"] == variable


def test_bad_configure_argument_names_the_argument_and_keeps_old_settings() -> None:
    before = get_settings()
    with pytest.raises(ConfigurationError, match="database_url: unsupported scheme 'mysql'"):
        configure(database_url="mysql://x")
    with pytest.raises(ConfigurationError, match="unknown setting 'databse_url'"):
        configure(databse_url="sqlite://")
    assert get_settings() == before


def test_error_tree_statuses() -> None:
    assert issubclass(ConfigurationError, ModelplaneError)
    statuses = {cls.__name__: cls.http_status for cls in [
        mp.NotFoundError, mp.AlreadyExistsError, mp.InvalidArgumentError,
        mp.InvalidStateError, mp.PermissionDeniedError, mp.StorageUnavailableError]}
    assert statuses == {
        "NotFoundError": 404, "AlreadyExistsError": 409, "InvalidArgumentError": 422,
        "InvalidStateError": 409, "PermissionDeniedError": 403, "StorageUnavailableError": 503,
    }
    err = mp.NotFoundError("model 'x' not found", details={"name": "x"})
    assert err.to_dict() == {"code": "not_found", "message": "model 'x' not found",
                             "details": {"name": "x"}}
