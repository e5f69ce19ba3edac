"""``modelplane experiments``: list, create, rename, delete (soft) and restore experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from modelplane.tracking.entities import Experiment
    from modelplane.tracking.service import TrackingService

__all__ = ["app"]

app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)


def _tracking() -> TrackingService:
    from modelplane.client import Client

    return Client().tracking


@app.command("list")
def list_experiments(
    include_deleted: Annotated[
        bool, typer.Option("--all", help="Include deleted experiments.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")
                       ] = False,
) -> None:
    """List experiments, oldest first."""
    experiments = _tracking().list_experiments(include_deleted=include_deleted)
    if as_json:
        from modelplane.cli._format import dumps

        typer.echo(dumps([e.to_dict() for e in experiments]))
        return
    _print_table(experiments, include_deleted)


def _print_table(experiments: list[Experiment], show_lifecycle: bool) -> None:
    from rich.table import Table

    from modelplane.cli._format import print_all, when

    table = Table(title="experiments", title_justify="left")
    table.add_column("name", style="bold cyan")
    table.add_column("id", no_wrap=True)
    table.add_column("created")
    if show_lifecycle:
        table.add_column("lifecycle")
    table.add_column("description")
    for e in experiments:
        row = [e.name, e.id, when(e.created_at)]
        if show_lifecycle:
            row.append(e.lifecycle)
        table.add_row(*row, e.description)
    print_all(table)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The new experiment's name.")],
    description: Annotated[str, typer.Option(help="What the experiment is for.")] = "",
) -> None:
    """Create an experiment."""
    experiment = _tracking().create_experiment(name, description)
    typer.echo(f"created experiment {experiment.name!r} ({experiment.id})")


@app.command("rename")
def rename(
    old: Annotated[str, typer.Argument(help="Current name or id.")],
    new: Annotated[str, typer.Argument(help="New name.")],
) -> None:
    """Rename an experiment (its runs follow)."""
    experiment = _tracking().update_experiment(old, name=new)
    typer.echo(f"renamed experiment {old!r} to {experiment.name!r}")


@app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Delete an experiment (soft: hidden from lists and searches, restorable)."""
    experiment = _tracking().delete_experiment(name)
    typer.echo(f"deleted experiment {experiment.name!r} "
               f"(undo with: modelplane experiments restore {experiment.id})")


@app.command("restore")
def restore(name: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Restore a deleted experiment."""
    experiment = _tracking().restore_experiment(name)
    typer.echo(f"restored experiment {experiment.name!r}")
