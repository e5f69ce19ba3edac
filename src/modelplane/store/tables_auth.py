"""Tables of identities and the audit log, on the shared ``tables.metadata``.

- ``auth_users``: people and services (CI, serving replicas) with a role; a disabled
  user's tokens stop working at once.
- ``auth_tokens``: bearer tokens, stored only as a salted scrypt hash of their secret; the
  token's id (its public prefix) finds the row, so an unknown token costs no hashing.
- ``audit_log``: append-only, one row per write made through the server (who, from where,
  what, the answer's status, the reason given), failed logins and token administration.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text

from modelplane.store.tables import ID, TS, BigId, metadata

__all__ = ["audit_log", "auth_tokens", "auth_users", "metadata"]

NAME = String(128)

auth_users = Table(
    "auth_users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("disabled_at", TS, nullable=True),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("user_id", ID, ForeignKey("auth_users.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("name", NAME, nullable=False),
    Column("role", String(16), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("hash", String(128), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=True),
    Column("revoked_at", TS, nullable=True),
    Column("last_used_at", TS, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False),
    Column("actor", NAME, nullable=False),
    Column("source", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(1024), nullable=False),
    Column("status", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("details", JSON, nullable=False),
    Index(None, "at"),
    Index(None, "actor", "id"),
)
