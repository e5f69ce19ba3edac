"""``modelplane db``: schema migrations of the metadata database."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(help="Metadata database maintenance.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply pending schema migrations (safe while other processes use the database)."""
    from modelplane.core.config import get_settings
    from modelplane.store.db import get_database
    from modelplane.store.migrate import HEAD_REVISION
    from modelplane.store.migrate import upgrade as run_upgrade

    settings = get_settings()
    before = run_upgrade(get_database())
    where = settings.redacted(settings.database_url)
    if before == HEAD_REVISION:
        typer.echo(f"{where}: schema already at head ({HEAD_REVISION})")
    else:
        typer.echo(f"{where}: schema upgraded from {before} to {HEAD_REVISION}")


@app.command("current")
def current() -> None:
    """Print the schema revision the database is at."""
    from modelplane.store.db import get_database
    from modelplane.store.migrate import current_revision

    db = get_database()
    with db.engine.connect() as conn:
        typer.echo(current_revision(conn) or "none (empty database)")
