"""``modelplane import mlflow --from URI``: copy an MLflow history, idempotently."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(help="Import history from other tools.", no_args_is_help=True)


@app.command("mlflow")
def import_mlflow(
    source: Annotated[str, typer.Option("--from", help="An MLflow tracking server URL "
                                        "(http://host:5000) or its database URL "
                                        "(sqlite:///mlflow.db, postgresql://...).")],
    artifact_root: Annotated[str | None, typer.Option(
        "--artifact-root", help="Where the MLflow artifacts are (with a database URL).")] = None,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="MLFLOW_TRACKING_TOKEN", help="Bearer token for the server.")] = None,
) -> None:
    """Copy experiments, runs (params, metrics, tags, inputs, files), registered models,
    versions, stages, aliases and tags; a second import adds only what is new."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from modelplane.client import Client
    from modelplane.migrate_mlflow.importer import MlflowImporter
    from modelplane.migrate_mlflow.source import open_source

    client = Client()
    reader = open_source(source, artifact_root, token)
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("importing", total=None)
        importer = MlflowImporter(reader, client.tracking, client.registry, client.artifacts,
                                  progress=lambda what: progress.update(
                                      task, description=f"importing {what}"))
        added, skipped = importer.run()
    typer.echo("added: " + (", ".join(f"{n} {k}" for k, n in sorted(added.items())) or
                            "nothing new"))
    if skipped:
        typer.echo("skipped: " + ", ".join(f"{n} {k}" for k, n in sorted(skipped.items())))
