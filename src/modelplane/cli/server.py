"""``modelplane server``: the whole app (REST API, UI, metrics, serving) under uvicorn."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Annotated

import typer

from modelplane.core.errors import PermissionDeniedError

__all__ = ["allow_pickle_here", "check_bind_address", "server"]


def check_bind_address(host: str, insecure: bool) -> None:
    """Refuse a non-loopback address until authentication exists, unless ``insecure``."""
    if insecure or _is_loopback(host):
        return
    raise PermissionDeniedError(
        f"refusing to bind to {host}: modelplane has no authentication yet, so a non-loopback "
        "address would expose the API to the network; bind to 127.0.0.1 or pass --insecure"
    )


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
        bool, typer.Option("--insecure", help="Allow a non-loopback address without auth.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    serve: Annotated[list[str] | None, typer.Option(
        "--serve", metavar="MODEL_URI", help="Also serve this model (repeat).")] = None,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help=ALLOW_PICKLE_HELP)] = False,
) -> None:
    """Run the modelplane server: REST API, UI, /metrics and model serving."""
    check_bind_address(host, insecure)
    embedded_only()  # a server is where remote clients point; it is never remote itself
    allow_pickle_here(allow_pickle)
    import uvicorn

    from modelplane.store.db import get_database

    get_database().ensure_schema()  # fail here, on one line, not inside a worker
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
