"""``modelplane users``, ``modelplane tokens`` and ``modelplane audit``.

They act on the metadata database directly (run them where the server's database is
reachable); the same is offered to admins over HTTP under ``/api/v1/users``,
``/api/v1/tokens`` and ``/api/v1/audit``. A token is printed once, when it is created:
only its salted hash is stored. What these commands change is written to the audit log,
as ``cli:<login name>``.
"""

from __future__ import annotations

import getpass
import socket
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from modelplane.auth.service import AuthService

__all__ = ["audit", "tokens_app", "users_app"]

users_app = typer.Typer(help="People and services that may call the server.",
                        no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens (shown once, stored hashed).", no_args_is_help=True)

ROLE_HELP = "reader, writer, maintainer or admin (tokens also: predict, serving routes only)."


def _auth() -> AuthService:
    from modelplane.client import Client

    return Client(remote=False).auth


def _audit(auth: AuthService, action: str, target: str, details: dict[str, str]) -> None:
    try:
        who = getpass.getuser()
    except Exception:  # no login name (containers): still say it came from the CLI
        who = "unknown"
    auth.record([{"actor": f"cli:{who}", "source": socket.gethostname(), "action": action,
                  "target": target, "status": 0, "details": details}])


def _print_token(text: str, token_id: str, expires: object) -> None:
    typer.echo(text)
    typer.echo(f"# token {token_id}; expires {expires or 'never'}. Shown once: it is not "
               "stored. Remote clients send it as MODELPLANE_TOKEN.", err=True)


@users_app.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="User (or service) name.")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)] = "reader",
    admin: Annotated[bool, typer.Option("--admin", help="Same as --role admin.")] = False,
    service: Annotated[bool, typer.Option("--service",
                                          help="A service account (CI, a replica).")] = False,
    token: Annotated[bool, typer.Option("--token/--no-token",
                                        help="Print a first token (default) or not.")] = True,
    expires: Annotated[str | None, typer.Option(help="First token's expiry: 30d, 12h ...")
                       ] = None,
) -> None:
    """Create a user and print their first token (once)."""
    auth = _auth()
    user = auth.create_user(name, "admin" if admin else role,
                            kind="service" if service else "user")
    _audit(auth, "user.create", user.name, {"role": user.role, "kind": user.kind})
    typer.echo(f"created {user.kind} {user.name} ({user.role})", err=True)
    if token:
        record, text = auth.create_token(user.name, "default", expires=expires)
        _audit(auth, "token.create", record.id, {"user": user.name, "role": record.role})
        _print_token(text, record.id, record.expires_at)


@users_app.command("list")
def list_users(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    users = _auth().list_users()
    if as_json:
        from modelplane.cli._format import dumps

        typer.echo(dumps([{"name": u.name, "role": u.role, "kind": u.kind,
                           "created_at": u.created_at, "disabled_at": u.disabled_at}
                          for u in users]))
        return
    for u in users:
        state = f"disabled {u.disabled_at:%Y-%m-%d %H:%M}" if u.disabled_at else "active"
        typer.echo(f"{u.name}\t{u.role}\t{u.kind}\t{state}")


@users_app.command("revoke")
def revoke_user(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Disable a user: every token of theirs stops working."""
    auth = _auth()
    auth.disable_user(name)
    _audit(auth, "user.disable", name, {})
    typer.echo(f"disabled {name}; their tokens no longer work")


@tokens_app.command("create")
def create_token(
    user: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="What the token is for (ci, replica-1 ...).")
                    ] = "default",
    role: Annotated[str | None, typer.Option(help=f"{ROLE_HELP} Default: the user's.")
                    ] = None,
    expires: Annotated[str | None, typer.Option(help="30d, 12h, 90m or an ISO time.")] = None,
) -> None:
    """Create a token and print it (once)."""
    auth = _auth()
    record, text = auth.create_token(user, name, role=role, expires=expires)
    _audit(auth, "token.create", record.id, {"user": user, "role": record.role})
    _print_token(text, record.id, record.expires_at)


@tokens_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option(help="Only this user's.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    tokens = _auth().list_tokens(user)
    if as_json:
        from modelplane.cli._format import dumps

        typer.echo(dumps([{"id": t.id, "user": t.user, "name": t.name, "role": t.role,
                           "created_at": t.created_at, "expires_at": t.expires_at,
                           "revoked_at": t.revoked_at, "last_used_at": t.last_used_at}
                          for t in tokens]))
        return
    for t in tokens:
        state = "revoked" if t.revoked_at else (f"expires {t.expires_at:%Y-%m-%d %H:%M}"
                                                if t.expires_at else "no expiry")
        used = f"used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        typer.echo(f"{t.id}\t{t.user}\t{t.name}\t{t.role}\t{state}\t{used}")


@tokens_app.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="Token id (tokens list).")]
                 ) -> None:
    auth = _auth()
    auth.revoke_token(token_id)
    _audit(auth, "token.revoke", token_id, {})
    typer.echo(f"revoked {token_id}")


def audit(
    actor: Annotated[str | None, typer.Option(help="A user, or user/token.")] = None,
    action: Annotated[str | None, typer.Option(help="Action prefix: POST, login.failed ...")
                      ] = None,
    target: Annotated[str | None, typer.Option(help="Part of the target path.")] = None,
    since: Annotated[str | None, typer.Option(help="An age (1h, 7d) or an ISO time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The audit log, newest first: who changed what, from where, and why."""
    entries = _auth().audit(actor=actor, action=action, target=target, since=since,
                            limit=limit)
    if as_json:
        from modelplane.cli._format import dumps

        typer.echo(dumps([{"at": e.at, "actor": e.actor, "source": e.source,
                           "action": e.action, "target": e.target, "status": e.status,
                           "reason": e.reason, "request_id": e.request_id}
                          for e in entries]))
        return
    for e in entries:
        typer.echo(f"{e.at:%Y-%m-%d %H:%M:%S}\t{e.actor or '-'}\t{e.source}\t{e.action}\t"
                   f"{e.target}\t{e.status}\t{e.reason}")
