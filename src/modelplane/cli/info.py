"""``modelplane info``: where everything lives and which backends are in use."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

__all__ = ["collect_info", "info"]


def collect_info() -> dict[str, Any]:
    """Facts about this installation; touches the database (creating it on first use).
    In remote mode: the server's, after checking it answers (nothing local is opened)."""
    from modelplane.core.config import get_settings

    settings = get_settings()
    if settings.is_remote:
        return collect_remote_info(settings.server_url, settings.home, token=settings.token)
    from sqlalchemy import text

    from modelplane.__about__ import __version__
    from modelplane.artifacts.store import get_artifact_store
    from modelplane.store.db import get_database
    from modelplane.store.migrate import HEAD_REVISION

    db = get_database()
    with db.session_scope(readonly=True) as session:
        meta: dict[str, str] = dict(
            session.execute(text("SELECT key, value FROM meta")).tuples().all())
    artifacts = get_artifact_store()
    online = settings.online_store_url.split("://", 1)[0]
    return {
        "version": __version__,
        "home": str(settings.home),
        "database": settings.redacted(settings.database_url),
        "database_backend": db.dialect,
        "schema_revision": HEAD_REVISION,
        "installation_id": meta.get("installation_id", ""),
        "created_at": meta.get("created_at", ""),
        "artifact_root": artifacts.root_url,
        "artifact_backend": "+".join(artifacts.protocols),
        "online_store": settings.redacted(settings.online_store_url),
        "online_backend": online,
        "mode": "embedded",
        "server_url": "(embedded: no server)",
    }


def collect_remote_info(server_url: str, home: Any, *, token: str | None = None
                        ) -> dict[str, Any]:
    """What a remote client talks to: the server's health answer (one quick try; an
    unreachable server is StorageUnavailableError, printed on one line)."""
    from modelplane.__about__ import __version__
    from modelplane.remote.http import RemoteTransport

    transport = RemoteTransport(server_url, timeout=10, connect_timeout=3, retries=0,
                                token=token)
    try:
        health = transport.get("/health")
    finally:
        transport.close()
    return {
        "version": __version__,
        "mode": "remote",
        "server_url": server_url,
        "token": "set (MODELPLANE_TOKEN)" if token else "none",
        "server_status": health.get("status", ""),
        "server_version": health.get("version", ""),
        "server_database_backend": health.get("database", ""),
        "artifact_root": f"{server_url}/api/v1/artifacts (through the server)",
        "home": str(home),
        "model_cache": str(home / "cache" / "models"),
    }


def info(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show where modelplane keeps its state and which backends it uses."""
    facts = collect_info()
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    print_info(facts)


def print_info(facts: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"modelplane {facts['version']}", show_header=False, title_justify="left")
    table.add_column(style="bold cyan")
    table.add_column()
    for key, value in facts.items():
        if key != "version":
            table.add_row(key.replace("_", " "), str(value))
    Console().print(table)
