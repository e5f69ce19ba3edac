"""Identities and the audit log on the metadata database (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from modelplane.auth.entities import AuditEntry, Token, User
from modelplane.auth.store import StoredToken
from modelplane.core.errors import NotFoundError
from modelplane.store.db import Database
from modelplane.store.tables_auth import audit_log as audit_t
from modelplane.store.tables_auth import auth_tokens as tokens_t
from modelplane.store.tables_auth import auth_users as users_t

__all__ = ["SqlAuthStore"]


def _user(row: Any) -> User:
    return User(id=row.id, name=row.name, role=row.role, kind=row.kind,
                created_at=row.created_at, disabled_at=row.disabled_at)


def _token(row: Any, user: str) -> Token:
    return Token(id=row.id, user=user, name=row.name, role=row.role,
                 created_at=row.created_at, expires_at=row.expires_at,
                 revoked_at=row.revoked_at, last_used_at=row.last_used_at)


def _no_user(name: str) -> NotFoundError:
    return NotFoundError(f"user {name!r} does not exist; create it with `modelplane users "
                         "create`", details={"user": name})


_TOKEN_COLUMNS = (*tokens_t.c, users_t.c.name.label("user_name"),
                  users_t.c.disabled_at.label("user_disabled_at"),
                  users_t.c.role.label("user_role"))


class SqlAuthStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create_user(self, user: User) -> User:
        with self.database.connection_scope() as conn:
            conn.execute(insert(users_t).values(
                id=user.id, name=user.name, role=user.role, kind=user.kind,
                created_at=user.created_at, disabled_at=None))
        return user

    def get_user(self, name: str) -> User:
        with self.database.connection_scope(readonly=True) as conn:
            row = conn.execute(select(users_t).where(users_t.c.name == name)).first()
        if row is None:
            raise _no_user(name)
        return _user(row)

    def list_users(self) -> list[User]:
        with self.database.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(users_t).order_by(users_t.c.name)).all()
        return [_user(r) for r in rows]

    def count_users(self) -> int:
        with self.database.connection_scope(readonly=True) as conn:
            return int(conn.execute(select(func.count()).select_from(users_t)).scalar_one())

    def disable_user(self, name: str, at: datetime) -> User:
        with self.database.connection_scope() as conn:
            conn.execute(update(users_t).where(users_t.c.name == name,
                                               users_t.c.disabled_at.is_(None))
                         .values(disabled_at=at))
            row = conn.execute(select(users_t).where(users_t.c.name == name)).first()
        if row is None:
            raise _no_user(name)
        return _user(row)

    def create_token(self, token: Token, user_id: str, salt: str, hashed: str) -> Token:
        with self.database.connection_scope() as conn:
            conn.execute(insert(tokens_t).values(
                id=token.id, user_id=user_id, name=token.name, role=token.role, salt=salt,
                hash=hashed, created_at=token.created_at, expires_at=token.expires_at))
        return token

    def get_token(self, token_id: str) -> StoredToken | None:
        query = (select(*_TOKEN_COLUMNS).join(users_t, users_t.c.id == tokens_t.c.user_id)
                 .where(tokens_t.c.id == token_id))
        with self.database.connection_scope(readonly=True) as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return (_token(row, row.user_name), row.salt, row.hash, row.user_disabled_at,
                row.user_role)

    def list_tokens(self, user: str | None = None) -> list[Token]:
        query = (select(*_TOKEN_COLUMNS).join(users_t, users_t.c.id == tokens_t.c.user_id)
                 .order_by(tokens_t.c.created_at))
        if user is not None:
            query = query.where(users_t.c.name == user)
        with self.database.connection_scope(readonly=True) as conn:
            rows = conn.execute(query).all()
        return [_token(r, r.user_name) for r in rows]

    def revoke_token(self, token_id: str, at: datetime) -> Token:
        with self.database.connection_scope() as conn:
            conn.execute(update(tokens_t).where(tokens_t.c.id == token_id,
                                                tokens_t.c.revoked_at.is_(None))
                         .values(revoked_at=at))
        stored = self.get_token(token_id)
        if stored is None:
            raise NotFoundError(f"token {token_id!r} does not exist; list them with "
                                "`modelplane tokens list`", details={"token": token_id})
        return stored[0]

    def touch_token(self, token_id: str, at: datetime) -> None:
        with self.database.connection_scope() as conn:
            conn.execute(update(tokens_t).where(tokens_t.c.id == token_id)
                         .values(last_used_at=at))

    def append_audit(self, entries: Sequence[dict[str, Any]]) -> None:
        if entries:
            with self.database.connection_scope() as conn:
                conn.execute(insert(audit_t), list(entries))

    def list_audit(self, *, actor: str | None = None, action: str | None = None,
                   target: str | None = None, since: datetime | None = None,
                   limit: int = 100) -> list[AuditEntry]:
        query = select(audit_t).order_by(audit_t.c.id.desc()).limit(limit)
        if actor:
            query = query.where((audit_t.c.actor == actor)
                                | audit_t.c.actor.startswith(f"{actor}/", autoescape=True))
        if action:
            query = query.where(audit_t.c.action.startswith(action, autoescape=True))
        if target:
            query = query.where(audit_t.c.target.contains(target, autoescape=True))
        if since is not None:
            query = query.where(audit_t.c.at >= since)
        with self.database.connection_scope(readonly=True) as conn:
            rows = conn.execute(query).all()
        return [AuditEntry(id=r.id, at=r.at, actor=r.actor, source=r.source, action=r.action,
                           target=r.target, status=r.status, reason=r.reason,
                           request_id=r.request_id, details=dict(r.details or {}))
                for r in rows]
