"""``modelplane info``: where everything lives and which backends are in use."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

__all__ = ["collect_info", "info"]


def collect_info() -> dict[str, Any]:
    """Facts about this installation; touches the database (creating it on first use)."""
    from sqlalchemy import text

    from modelplane.__about__ import __version__
    from modelplane.artifacts.store import get_artifact_store
    from modelplane.core.config import get_settings
    from modelplane.store.db import get_database
    from modelplane.store.migrate import HEAD_REVISION

    settings = get_settings()
    db = get_database()
    with db.session_scope(readonly=True) as session:
        meta = dict(session.execute(text("SELECT key, value FROM meta")).tuples().all())
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
        "server_url": settings.server_url or "(embedded: no server)",
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
