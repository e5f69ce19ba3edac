"""API schemas of users, tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuditLogEntryOut",
    "AuditLogOut",
    "IdentityOut",
    "TokenCreate",
    "TokenCreatedOut",
    "TokenListOut",
    "TokenOut",
    "UserCreate",
    "UserListOut",
    "UserOut",
]

RoleName = Literal["predict", "reader", "writer", "maintainer", "admin"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    role: RoleName = "reader"
    kind: Literal["user", "service"] = "user"


class UserOut(_Out):
    name: str
    role: str
    kind: str
    created_at: datetime
    disabled_at: datetime | None = None


class UserListOut(BaseModel):
    users: list[UserOut]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(min_length=1, max_length=128)
    name: str = Field(default="default", min_length=1, max_length=128)
    role: RoleName | None = None
    expires: str | None = Field(default=None, max_length=64,
                                description="a duration (30d, 12h, 90m) or an ISO time")


class TokenOut(_Out):
    id: str
    user: str
    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="the token itself: shown this once, never stored")


class TokenListOut(BaseModel):
    tokens: list[TokenOut]


class AuditLogEntryOut(_Out):
    id: int
    at: datetime
    actor: str
    source: str
    action: str
    target: str
    status: int
    reason: str
    request_id: str
    details: dict[str, Any]


class AuditLogOut(BaseModel):
    entries: list[AuditLogEntryOut]


class IdentityOut(_Out):
    user: str
    role: str
    token_id: str
    token_name: str
    expires_at: datetime | None = None
