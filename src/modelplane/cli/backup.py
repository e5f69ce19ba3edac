"""``modelplane backup`` and ``modelplane restore``: an online snapshot of the metadata
and artifacts into one file, and back into an empty home or database (see
``modelplane.ops.backup``)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated, Any

import typer

__all__ = ["backup", "register", "restore"]


@contextmanager
def _progress(quiet: bool) -> Any:
    """A Rich progress bar with one task per phase (tables, blobs)."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn

    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed:,.0f}/{task.total:,.0f}"), transient=False) as bar:
        def report(what: str, done: int, total: int) -> None:
            if what not in tasks:
                label = "metadata rows" if what == "tables" else "artifact bytes"
                tasks[what] = bar.add_task(label, total=total)
            bar.update(tasks[what], completed=done, total=total)

        yield report


def _targets() -> tuple[Any, Any]:
    from modelplane.artifacts.store import get_artifact_store
    from modelplane.store.db import get_database

    return get_database(), get_artifact_store()


def backup(
    out: Annotated[str, typer.Option("--out", "-o", help="Backup file: a path or an fsspec "
                                     "URL (s3://bucket/modelplane.tar).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Back up the metadata (a consistent online snapshot) and the artifacts, while the
    server runs."""
    from modelplane.ops.backup import backup as run_backup

    db, store = _targets()
    db.ensure_schema()
    with _progress(quiet) as report:
        manifest = run_backup(db, store, out, progress=report)
    rows = sum(manifest["tables"].values())
    art = manifest["artifacts"]
    what = "copied" if art["mode"] == "copy" else "listed (the object store keeps them)"
    typer.echo(f"backed up {rows:,} rows and {art['blobs']:,} blobs ({art['bytes']:,} bytes, "
               f"{what}) to {out}")


def restore(
    file: Annotated[str, typer.Argument(help="A backup written by `modelplane backup`.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Restore a backup into an empty home or database (a non-empty one is refused)."""
    from modelplane.ops.backup import restore as run_restore

    db, store = _targets()
    with _progress(quiet) as report:
        manifest = run_restore(db, store, file, progress=report)
    rows = sum(manifest["tables"].values())
    typer.echo(f"restored {rows:,} rows and the artifacts of a backup taken at "
               f"{manifest['created_at']}")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
