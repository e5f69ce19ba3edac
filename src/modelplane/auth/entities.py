"""Records of identities and the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AuditEntry", "Identity", "Token", "User"]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    role: str
    kind: str  # "user" or "service"
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """A token's record; never its secret (shown once, when created)."""

    id: str
    user: str
    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: the user, through which token, with which role."""

    user: str
    role: str
    token_id: str = ""
    token_name: str = ""
    expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller: ``user`` or ``user/token``."""
        return f"{self.user}/{self.token_name}" if self.token_name else self.user


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    source: str
    action: str
    target: str
    status: int
    reason: str = ""
    request_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)
