"""``/api/v1/users``, ``/api/v1/tokens``, ``/api/v1/audit`` (admins) and ``/api/v1/whoami``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from modelplane.auth.service import AuthService
from modelplane.server.auth.deps import IdentityDep
from modelplane.server.auth.schemas import (
    AuditLogEntryOut,
    AuditLogOut,
    IdentityOut,
    TokenCreate,
    TokenCreatedOut,
    TokenListOut,
    TokenOut,
    UserCreate,
    UserListOut,
    UserOut,
)

__all__ = ["router"]

router = APIRouter(tags=["auth"])


def _auth(request: Request) -> AuthService:
    return request.app.state.client.auth  # type: ignore[no-any-return]


AuthDep = Annotated[AuthService, Depends(_auth)]


@router.get("/whoami", response_model=IdentityOut)
def whoami(identity: IdentityDep) -> IdentityOut:
    return IdentityOut.model_validate(identity)


@router.get("/users", response_model=UserListOut)
def list_users(auth: AuthDep) -> UserListOut:
    return UserListOut(users=[UserOut.model_validate(u) for u in auth.list_users()])


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, auth: AuthDep) -> UserOut:
    return UserOut.model_validate(auth.create_user(body.name, body.role, kind=body.kind))


@router.delete("/users/{name}", response_model=UserOut)
def disable_user(name: str, auth: AuthDep) -> UserOut:
    """Disable a user: every token of theirs stops working."""
    return UserOut.model_validate(auth.disable_user(name))


@router.get("/tokens", response_model=TokenListOut)
def list_tokens(auth: AuthDep, user: str | None = None) -> TokenListOut:
    return TokenListOut(tokens=[TokenOut.model_validate(t) for t in auth.list_tokens(user)])


@router.post("/tokens", response_model=TokenCreatedOut, status_code=201)
def create_token(body: TokenCreate, auth: AuthDep) -> TokenCreatedOut:
    """A new token; the answer holds the token itself, this once."""
    token, text = auth.create_token(body.user, body.name, role=body.role,
                                    expires=body.expires)
    return TokenCreatedOut(**TokenOut.model_validate(token).model_dump(), token=text)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, auth: AuthDep) -> TokenOut:
    return TokenOut.model_validate(auth.revoke_token(token_id))


@router.get("/audit", response_model=AuditLogOut)
def audit(auth: AuthDep, actor: str | None = None, action: str | None = None,
          target: str | None = None, since: str | None = None,
          limit: Annotated[int, Query(ge=1, le=100_000)] = 100) -> AuditLogOut:
    """The audit log, newest first."""
    entries = auth.audit(actor=actor, action=action, target=target, since=since, limit=limit)
    return AuditLogOut(entries=[AuditLogEntryOut.model_validate(e) for e in entries])
