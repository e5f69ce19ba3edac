"""AuthService on SQLite: tokens shown once and hashed, checks with reasons, the cache,
roles and expiry parsing."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from modelplane.auth.hashing import hash_secret, parse_token, verify_secret
from modelplane.auth.roles import cap, role_allows
from modelplane.auth.service import AuthService, parse_expiry
from modelplane.auth.sql import SqlAuthStore
from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
)
from modelplane.core.timeutil import utcnow
from modelplane.store.db import Database


@pytest.fixture
def auth(tmp_path: Path) -> AuthService:
    return AuthService(SqlAuthStore(Database(f"sqlite:///{tmp_path / 'mp.db'}")),
                       cache_seconds=60)


def test_roles_ladder_and_predict_scope() -> None:
    assert role_allows("admin", "reader") and role_allows("writer", "writer")
    assert not role_allows("reader", "writer") and not role_allows("maintainer", "admin")
    assert role_allows("predict", "predict") and role_allows("reader", "predict")
    assert not role_allows("predict", "reader")
    assert cap("admin", "writer") == "writer" and cap("reader", "admin") == "reader"


def test_secrets_are_salted_scrypt_hashes() -> None:
    salt1, hash1 = hash_secret("s")
    salt2, hash2 = hash_secret("s")
    assert salt1 != salt2 and hash1 != hash2  # salted
    assert verify_secret("s", salt1, hash1) and not verify_secret("t", salt1, hash1)
    assert parse_token("mp_0123456789ab_" + "x" * 43) == ("0123456789ab", "x" * 43)
    assert parse_token("mp_0123456789ab_short") is None


def test_token_lifecycle(auth: AuthService) -> None:
    auth.create_user("ann", "writer")
    with pytest.raises(AlreadyExistsError):
        auth.create_user("ann")
    with pytest.raises(InvalidArgumentError, match="invalid name"):
        auth.create_user("a b")
    with pytest.raises(NotFoundError, match="user 'bob'"):
        auth.create_token("bob")
    record, text = auth.create_token("ann", "ci", expires="2h")
    assert record.role == "writer" and record.expires_at is not None
    assert text.split("_", 2)[2] not in repr(auth.store.get_token(record.id))  # the secret
    identity = auth.authenticate(text)
    assert (identity.user, identity.role, identity.actor) == ("ann", "writer", "ann/ci")
    assert auth.cached(text) == identity
    assert auth.list_tokens("ann")[0].last_used_at is not None
    auth.revoke_token(record.id)
    assert auth.cached(text) is None  # revoked here: dropped from the cache at once
    with pytest.raises(UnauthenticatedError, match="revoked"):
        auth.authenticate(text)
    with pytest.raises(InvalidArgumentError, match="cannot outrank"):
        auth.create_token("ann", role="admin")
    _, predict = auth.create_token("ann", "app", role="predict")
    assert auth.authenticate(predict).role == "predict"
    auth.disable_user("ann")
    with pytest.raises(UnauthenticatedError, match="disabled"):
        auth.authenticate(predict)


@pytest.mark.parametrize("text, reason", [
    ("", "malformed"), ("Bearer x", "malformed"),
    ("mp_0123456789ab_" + "A" * 43, "unknown")])
def test_bad_tokens_say_why(auth: AuthService, text: str, reason: str) -> None:
    with pytest.raises(UnauthenticatedError) as info:
        auth.authenticate(text)
    assert info.value.details["reason"] == reason and info.value.http_status == 401


def test_expiry_forms() -> None:
    now = utcnow()
    assert parse_expiry("30d", now) == now + timedelta(days=30)
    assert parse_expiry("90m", now) == now + timedelta(minutes=90)
    assert parse_expiry(None) is None
    assert parse_expiry((now + timedelta(days=1)).isoformat(), now) is not None
    for bad in ("soon", "-1d"):
        with pytest.raises(InvalidArgumentError) as info:
            parse_expiry(bad, now)
        assert info.value.details["field"] == "expires"
    with pytest.raises(InvalidArgumentError, match="in the past"):
        parse_expiry((now - timedelta(days=1)).isoformat(), now)


def test_audit_filters(auth: AuthService) -> None:
    auth.record([{"actor": "ann/ci", "source": "10.0.0.1", "action": "POST /api/v1/models",
                  "target": "/api/v1/models", "status": 201, "reason": "why"},
                 {"actor": "bob", "source": "10.0.0.2", "action": "DELETE /api/v1/runs/{id}",
                  "target": "/api/v1/runs/r1", "status": 403}])
    assert [e.actor for e in auth.audit(actor="ann")] == ["ann/ci"]
    assert [e.actor for e in auth.audit(action="DELETE")] == ["bob"]
    assert [e.target for e in auth.audit(target="runs/r1")] == ["/api/v1/runs/r1"]
    assert len(auth.audit(since="1h")) == 2
    with pytest.raises(InvalidArgumentError, match="since"):
        auth.audit(since="yesterday")


def test_huge_durations_are_refused_not_overflowed(auth: AuthService) -> None:
    for call in (lambda: parse_expiry("99999999999d"), lambda: auth.audit(since="99999999999d")):
        with pytest.raises(InvalidArgumentError, match="at most 100 years"):
            call()


def test_a_stale_cache_entry_rechecks_the_row_not_the_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = AuthService(SqlAuthStore(Database(f"sqlite:///{tmp_path / 'mp.db'}")),
                       cache_seconds=0.001)
    auth.create_user("ann", "writer")
    record, text = auth.create_token("ann")
    auth.authenticate(text)
    hashed = []
    import modelplane.auth.service as service_module

    monkeypatch.setattr(service_module, "verify_secret",
                        lambda *a: hashed.append(a) or True)
    for _ in range(3):
        time.sleep(0.002)
        assert auth.authenticate(text).user == "ann"
    assert hashed == []  # re-checked against the row only
    auth.store.revoke_token(record.id, utcnow())  # as another replica would
    time.sleep(0.002)
    with pytest.raises(UnauthenticatedError, match="revoked"):
        auth.authenticate(text)
