"""Users, tokens, token checks and the audit log (``AuthService``).

A checked token is cached in memory for ``cache_seconds`` (keyed by the token text), so a
request costs a dictionary lookup, not an scrypt hash; revoking through this service
drops the cached entry at once, and other replicas see a revocation within that period.
Expiry is checked on every request, cached or not.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelplane.auth.entities import AuditEntry, Identity, Token, User
from modelplane.auth.hashing import TOKEN_FORM, hash_secret, new_token, parse_token, verify_secret
from modelplane.auth.roles import PREDICT, cap, check_role
from modelplane.auth.store import AuthStore

if TYPE_CHECKING:
    from modelplane.auth.oidc import OidcVerifier
from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
)
from modelplane.core.ids import new_id
from modelplane.core.timeutil import as_utc, utcnow

__all__ = ["AuthService", "parse_expiry"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_CACHE_MAX = 10_000


def _check_name(value: str, field: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidArgumentError(
            f"invalid {field} {value!r}: 1-128 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit", details={"field": field})
    return value


def _span(match: re.Match[str], field: str) -> timedelta:
    """The duration a ``_DURATION`` match names, at most 100 years (a 422, never an
    overflow, beyond)."""
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > 100 * 365 * 86400:
        raise InvalidArgumentError(f"{field}: at most 100 years", details={"field": field})
    return timedelta(seconds=seconds)


def parse_expiry(value: str | datetime | None, now: datetime | None = None) -> datetime | None:
    """``30d``, ``12h``, ``90m``, ``2w``, an ISO time, or None (never expires)."""
    if value is None or value == "":
        return None
    now = now or utcnow()
    if isinstance(value, datetime):
        when = as_utc(value)
    else:
        match = _DURATION.match(value.strip().lower())
        if match:
            when = now + _span(match, "expires")
        else:
            try:
                when = as_utc(datetime.fromisoformat(value.strip()))
            except ValueError:
                raise InvalidArgumentError(
                    f"invalid expiry {value!r}; expected a duration such as 30d, 12h, 90m "
                    "or an ISO time", details={"field": "expires"}) from None
    if when <= now:
        raise InvalidArgumentError("the expiry is in the past", details={"field": "expires"})
    return when


class AuthService:
    def __init__(self, store: AuthStore, *, cache_seconds: float = 10.0,
                 oidc: OidcVerifier | None = None) -> None:
        self.store = store
        self.oidc = oidc  # optional: an identity provider's JWTs (auth/oidc.py)
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Identity, float]] = {}
        self._touched: dict[str, float] = {}  # token id -> when last_used_at was written
        self._lock = threading.Lock()

    # -- users ---------------------------------------------------------------------------
    def create_user(self, name: str, role: str = "reader", *, kind: str = "user") -> User:
        if kind not in ("user", "service"):
            raise InvalidArgumentError(f"unknown kind {kind!r}; expected user or service",
                                       details={"field": "kind"})
        user = User(id=new_id(), name=_check_name(name, "name"), role=check_role(role),
                    kind=kind, created_at=utcnow())
        try:
            self.store.get_user(name)
        except NotFoundError:
            return self.store.create_user(user)  # a racing twin fails on the unique name
        raise AlreadyExistsError(f"user {name!r} already exists", details={"name": name})

    def list_users(self) -> list[User]:
        return self.store.list_users()

    def get_user(self, name: str) -> User:
        return self.store.get_user(name)

    def has_users(self) -> bool:
        return self.store.count_users() > 0

    def disable_user(self, name: str) -> User:
        """Disable a user: every token of theirs stops working (here at once)."""
        user = self.store.disable_user(name, utcnow())
        with self._lock:
            for key in [k for k, (ident, _) in self._cache.items() if ident.user == name]:
                del self._cache[key]
        return user

    # -- tokens --------------------------------------------------------------------------
    def create_token(self, user: str, name: str = "default", *, role: str | None = None,
                     expires: str | datetime | None = None) -> tuple[Token, str]:
        """A new token for ``user``: ``(record, token text)``; the text is never stored
        and cannot be shown again. ``role`` defaults to the user's and may not exceed it."""
        owner = self.store.get_user(user)
        if owner.disabled_at is not None:
            raise InvalidArgumentError(f"user {user!r} is disabled", details={"field": "user"})
        wanted = check_role(role) if role else owner.role
        granted = cap(wanted, owner.role) if wanted != PREDICT else PREDICT
        if granted != wanted:
            raise InvalidArgumentError(
                f"a token cannot outrank its user: {user!r} is {owner.role}, asked {wanted}",
                details={"field": "role"})
        token_id, secret, text = new_token()
        salt, hashed = hash_secret(secret)
        token = Token(id=token_id, user=owner.name, name=_check_name(name, "name"),
                      role=granted, created_at=utcnow(), expires_at=parse_expiry(expires))
        return self.store.create_token(token, owner.id, salt, hashed), text

    def list_tokens(self, user: str | None = None) -> list[Token]:
        if user is not None:
            self.store.get_user(user)  # NotFoundError naming it
        return self.store.list_tokens(user)

    def revoke_token(self, token_id: str) -> Token:
        token = self.store.revoke_token(token_id, utcnow())
        with self._lock:
            for key in [k for k, (ident, _) in self._cache.items() if ident.token_id == token_id]:
                del self._cache[key]
        return token

    def cached(self, text: str) -> Identity | None:
        """The identity of a token checked within ``cache_seconds`` and not expired, else
        ``None`` (then call :meth:`authenticate`, which may hash and hit the database)."""
        hit = self._cache.get(text)
        if hit is None or time.monotonic() - hit[1] >= self.cache_seconds:
            return None
        identity = hit[0]
        if identity.expires_at is not None and identity.expires_at <= utcnow():
            return None
        return identity

    def authenticate(self, text: str) -> Identity:
        """The identity a bearer token stands for, or ``UnauthenticatedError`` saying why
        (malformed, unknown, revoked, expired, user disabled). A token whose secret was
        verified before and whose cache period ran out is checked again against its row
        only (revoked? disabled? expired? role?): the hash of an id never changes, so the
        scrypt cost is paid once per token per process, not once per period, and a burst
        of concurrent requests at the end of a period costs database reads, not hashes."""
        hit = self._cache.get(text)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self.cache_seconds:
            identity = hit[0]
            if identity.expires_at is None or identity.expires_at > utcnow():
                return identity
            raise UnauthenticatedError("the token has expired", details={"reason": "expired"})
        verified = hit is not None and bool(hit[0].token_id)
        try:
            identity = self._check(text, secret_verified=verified)
        except UnauthenticatedError:
            with self._lock:
                self._cache.pop(text, None)
            raise
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[text] = (identity, now)
        return identity

    def _check(self, text: str, *, secret_verified: bool = False) -> Identity:
        if self.oidc is not None and self.oidc.looks_like_jwt(text):
            return self.oidc.verify(text)
        parsed = parse_token(text)
        if parsed is None:
            raise UnauthenticatedError(f"malformed token; expected {TOKEN_FORM}",
                                       details={"reason": "malformed"})
        stored = self.store.get_token(parsed[0])
        if stored is None or not (secret_verified
                                  or verify_secret(parsed[1], stored[1], stored[2])):
            raise UnauthenticatedError("unknown token", details={"reason": "unknown"})
        token, _, _, user_disabled_at, user_role = stored
        if token.revoked_at is not None:
            raise UnauthenticatedError("the token was revoked", details={"reason": "revoked"})
        if user_disabled_at is not None:
            raise UnauthenticatedError(f"user {token.user!r} is disabled",
                                       details={"reason": "disabled"})
        now = utcnow()
        if token.expires_at is not None and token.expires_at <= now:
            raise UnauthenticatedError("the token has expired", details={"reason": "expired"})
        if time.monotonic() - self._touched.get(token.id, -1e9) > 60:  # a write a minute
            self._touched[token.id] = time.monotonic()
            self.store.touch_token(token.id, now)
        role = token.role if token.role == PREDICT else cap(token.role, user_role)
        return Identity(user=token.user, role=role, token_id=token.id, token_name=token.name,
                        expires_at=token.expires_at)

    # -- audit ---------------------------------------------------------------------------
    def record(self, entries: Sequence[dict[str, Any]]) -> None:
        """Append audit entries: dicts with ``actor``, ``source``, ``action``, ``target``,
        ``status`` and optionally ``reason``, ``request_id``, ``details``, ``at``."""
        now = utcnow()
        rows = [{"at": e.get("at") or now, "actor": str(e.get("actor", ""))[:128],
                 "source": str(e.get("source", ""))[:64],
                 "action": str(e.get("action", ""))[:64],
                 "target": str(e.get("target", ""))[:1024], "status": int(e.get("status", 0)),
                 "reason": str(e.get("reason", ""))[:2000],
                 "request_id": str(e.get("request_id", ""))[:128],
                 "details": dict(e.get("details") or {})} for e in entries]
        self.store.append_audit(rows)

    def audit(self, *, actor: str | None = None, action: str | None = None,
              target: str | None = None, since: str | datetime | None = None,
              limit: int = 100) -> list[AuditEntry]:
        """Audit entries, newest first, filtered by actor (user, or ``user/token``),
        action prefix, a substring of the target, and a time (ISO) or age (``1h``)."""
        if not 1 <= limit <= 100_000:
            raise InvalidArgumentError("limit must be between 1 and 100000",
                                       details={"field": "limit"})
        start = None
        if isinstance(since, datetime):
            start = as_utc(since)
        elif since:
            match = _DURATION.match(since.strip().lower())
            if match:
                start = utcnow() - _span(match, "since")
            else:
                try:
                    start = as_utc(datetime.fromisoformat(since.strip()))
                except ValueError:
                    raise InvalidArgumentError(
                        f"invalid since {since!r}; expected an age such as 1h or an ISO time",
                        details={"field": "since"}) from None
        return self.store.list_audit(actor=actor, action=action, target=target, since=start,
                                     limit=limit)
