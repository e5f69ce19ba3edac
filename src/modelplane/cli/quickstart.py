"""``modelplane quickstart``: the tour on embedded defaults, nothing to start."""

from __future__ import annotations

import typer

__all__ = ["quickstart"]


def quickstart() -> None:
    """Initialise the home (database, artifact store) and walk through modelplane."""
    from rich.console import Console

    from modelplane.artifacts.store import get_artifact_store
    from modelplane.cli.info import collect_info, print_info

    console = Console()
    console.rule("[bold]modelplane quickstart")
    facts = collect_info()
    store = get_artifact_store()
    digest = store.put_bytes(b"hello from the modelplane quickstart\n")
    if not store.verify(digest):
        raise typer.Exit(1)
    console.print(f"[green]✓[/] metadata database ready ({facts['database_backend']}, "
                  f"schema {facts['schema_revision']})")
    console.print(f"[green]✓[/] artifact store ready: wrote and verified blob {digest[:12]}…")
    print_info(facts)
