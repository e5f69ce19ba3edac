"""The storage protocol of identities and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from modelplane.auth.entities import AuditEntry, Token, User

__all__ = ["AuthStore", "StoredToken"]

#: A token row with what checking it needs: (token, salt, hash, user disabled at).
StoredToken = tuple[Token, str, str, "datetime | None", str]


class AuthStore(Protocol):
    """Users, tokens (salted hashes only) and the append-only audit log.

    ``create_user`` raises ``AlreadyExistsError`` for a taken name; lookups of a missing
    user raise ``NotFoundError``; ``get_token`` returns ``None`` for an unknown id (the
    caller answers 401, not 404)."""

    def create_user(self, user: User) -> User: ...
    def get_user(self, name: str) -> User: ...
    def list_users(self) -> list[User]: ...
    def disable_user(self, name: str, at: datetime) -> User: ...
    def count_users(self) -> int: ...
    def create_token(self, token: Token, user_id: str, salt: str, hashed: str) -> Token: ...
    def get_token(self, token_id: str) -> StoredToken | None:
        """The token, its salt and hash, when its user was disabled, and the user's role."""
    def list_tokens(self, user: str | None = None) -> list[Token]: ...
    def revoke_token(self, token_id: str, at: datetime) -> Token: ...
    def touch_token(self, token_id: str, at: datetime) -> None: ...
    def append_audit(self, entries: Sequence[dict[str, Any]]) -> None: ...
    def list_audit(self, *, actor: str | None = None, action: str | None = None,
                   target: str | None = None, since: datetime | None = None,
                   limit: int = 100) -> list[AuditEntry]: ...
