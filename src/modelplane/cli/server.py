"""``modelplane server``: the whole app (REST API, UI, metrics, serving) under uvicorn."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Annotated

import typer

__all__ = ["allow_pickle_here", "first_admin", "secure_bind", "server"]


INSECURE_WARNING = (
    "WARNING: --insecure: this server at {host} answers anyone who can reach it, with no "
    "token: they can read, change and delete everything. Use it only on a network you "
    "trust completely; without --insecure, auth is on for any non-loopback address.")


def secure_bind(host: str, insecure: bool, auth: bool) -> bool:
    """Whether the server checks tokens: always beyond loopback unless ``insecure`` (which
    warns on every start), and on loopback when asked (``--auth``). With auth on, this
    process and its workers see ``MODELPLANE_AUTH=true``, and the first start prints the
    first admin token once."""
    if insecure:
        typer.echo(INSECURE_WARNING.format(host=host), err=True)
    enabled = auth or (not insecure and not _is_loopback(host))
    if enabled:
        from modelplane.core.config import reset_settings

        os.environ["MODELPLANE_AUTH"] = "true"
        reset_settings()
    return enabled


def first_admin() -> None:
    """No user yet: create ``admin`` and print its token, this once (never a default
    password; later admins come from ``modelplane users create --admin``)."""
    from modelplane.client import Client

    auth = Client(remote=False).auth
    if auth.has_users():
        return
    from modelplane.core.errors import AlreadyExistsError

    try:
        auth.create_user("admin", "admin")
    except AlreadyExistsError:  # another process created it first
        return
    record, text = auth.create_token("admin", "first-start")
    auth.record([{"actor": "server", "source": socket.gethostname(), "action": "user.create",
                  "target": "admin", "status": 0, "details": {"first_start": True}}])
    typer.echo(f"auth is on and there were no users: created user 'admin'. Its token, shown "
               f"this once (token id {record.id}):\n{text}\nSend it as MODELPLANE_TOKEN or "
               "'Authorization: Bearer'; create more with `modelplane users create`.",
               err=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def embedded_only() -> None:
    """Drop ``MODELPLANE_SERVER_URL`` from this process and the workers and writer
    processes it starts: they open the database themselves."""
    if os.environ.pop("MODELPLANE_SERVER_URL", None):
        from modelplane.core.config import reset_settings

        reset_settings()


ALLOW_PICKLE_HELP = ("Load models stored as pickles (their code runs here): only when you "
                     "trust whoever may register versions.")


def allow_pickle_here(allowed: bool) -> None:
    """``--allow-pickle``: this process and the workers it starts load pickle-stored models."""
    if allowed:
        from modelplane.core.config import reset_settings

        os.environ["MODELPLANE_ALLOW_PICKLE"] = "true"
        reset_settings()


def server(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Serve a non-loopback address WITHOUT auth "
                           "(warns on every start).")
    ] = False,
    auth: Annotated[bool, typer.Option("--auth", help="Check tokens on loopback too "
                                       "(always on beyond loopback).")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    serve: Annotated[list[str] | None, typer.Option(
        "--serve", metavar="MODEL_URI", help="Also serve this model (repeat).")] = None,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help=ALLOW_PICKLE_HELP)] = False,
) -> None:
    """Run the modelplane server: REST API, UI, /metrics and model serving."""
    embedded_only()  # a server is where remote clients point; it is never remote itself
    auth_on = secure_bind(host, insecure, auth)
    allow_pickle_here(allow_pickle)
    import uvicorn

    from modelplane.store.db import get_database

    get_database().ensure_schema()  # fail here, on one line, not inside a worker
    if auth_on:
        first_admin()
    if serve:
        from modelplane.cli.serve import run_app

        run_app(list(serve), serving_only=False, host=host, port=port, workers=workers,
                log_level=log_level)
        return
    from modelplane.serving.workershare import shared_folder

    with shared_folder(workers):  # /metrics of any worker answers for all of them
        if workers == 1:
            from modelplane.server.app import create_app

            uvicorn.run(create_app(), host=host, port=port, log_level=log_level,
                        access_log=False)
            return
        uvicorn.run("modelplane.server.app:create_app", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, access_log=False)
