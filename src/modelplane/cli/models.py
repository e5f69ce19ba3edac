"""``modelplane models``: registered models, versions, stages, aliases, rollback, history."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from modelplane.registry import RegistryService

__all__ = ["app"]

app = typer.Typer(help="Registered models: versions, stages, aliases, rollback, audit log.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who is acting (default: "
                                              "the current OS user), for the audit log.")]


def _service() -> RegistryService:
    from modelplane.client import Client

    return Client().registry


def _actor(actor: str | None) -> str:
    if actor is not None:
        return actor
    try:
        return getpass.getuser()[:128]
    except (KeyError, OSError):
        return ""


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    Console().print(table)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_models(
    filter: Annotated[str, typer.Option("--filter", help="e.g. \"name like 'churn%'\".")] = "",
    max_results: Annotated[int, typer.Option("--max-results")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List registered models."""
    page = _service().search_models(filter, max_results=max_results)
    if as_json:
        _echo_json([m.to_dict() for m in page.items])
        return
    _table("registered models", ["name", "latest", "aliases", "updated", "description"], [
        [m.name, m.latest_version, ", ".join(f"{a}={v}" for a, v in m.aliases.items()),
         _when(m.updated_at), m.description] for m in page.items])


@app.command("show")
def show(name: str, as_json: JsonOpt = False) -> None:
    """Show a model, its tags, aliases and the holders of each stage."""
    service = _service()
    model = service.get_model(name)
    versions = service.list_versions(name, max_results=1000).items
    if as_json:
        _echo_json({**model.to_dict(), "versions": [v.to_dict() for v in versions]})
        return
    stages: dict[str, int] = {}
    for v in versions:
        stages.setdefault(v.stage, v.version)
    rows: list[list[Any]] = [
        ["description", model.description], ["latest version", model.latest_version],
        ["created", _when(model.created_at)], ["updated", _when(model.updated_at)]]
    rows += [[f"stage {s}", f"version {v}"] for s, v in stages.items()]
    rows += [[f"alias @{a}", f"version {v}"] for a, v in model.aliases.items()]
    rows.append(["pickle-stored versions", "allowed to load" if model.allow_pickle
                 else "refused unless a loader opts in"])
    rows += [[f"tag {k}", v] for k, v in model.tags.items()]
    _table(f"model {model.name}", ["field", "value"], rows)


@app.command("versions")
def versions(name: str, max_results: Annotated[int, typer.Option("--max-results")] = 100,
             as_json: JsonOpt = False) -> None:
    """List the versions of a model, newest first."""
    page = _service().list_versions(name, max_results=max_results)
    if as_json:
        _echo_json([v.to_dict() for v in page.items])
        return
    _table(f"versions of {name}",
           ["version", "stage", "aliases", "flavor", "stored as", "run", "created"], [
               [v.version, v.stage, ", ".join(v.aliases), v.flavor,
                "PICKLE (needs opt-in)" if v.pickled else "safe", v.run_id, _when(v.created_at)]
               for v in page.items])


@app.command("allow-pickle")
def allow_pickle(name: str, revoke: Annotated[bool, typer.Option(
        "--revoke", help="Stop loading this model's pickles.")] = False) -> None:
    """Let servers load this model's pickle-stored versions (their code runs there): for an
    admin who trusts everyone allowed to register versions of NAME."""
    model = _service().set_allow_pickle(name, not revoke)
    state = "may now" if model.allow_pickle else "may no longer"
    typer.echo(f"servers {state} load pickle-stored versions of {name}")


@app.command("stage")
def stage(name: str, version: int, stage: str,
          reason: Annotated[str, typer.Option("--reason", help="Why, for the audit log.")] = "",
          actor: ActorOpt = None) -> None:
    """Move VERSION of NAME to STAGE (development, staging, production, archived)."""
    mv = _service().set_stage(name, version, stage, actor=_actor(actor), reason=reason)
    typer.echo(f"{mv.name} version {mv.version} is in {mv.stage}")


@app.command("alias")
def alias(name: str, alias: str,
          version: Annotated[int | None, typer.Argument(help="Version to point at.")] = None,
          delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
          actor: ActorOpt = None) -> None:
    """Point ALIAS of NAME at VERSION (or remove it with --delete)."""
    service = _service()
    if delete:
        service.delete_alias(name, alias, actor=_actor(actor))
        typer.echo(f"removed alias {name}@{alias}")
        return
    if version is None:
        raise typer.BadParameter("give a VERSION, or --delete to remove the alias")
    service.set_alias(name, alias, version, actor=_actor(actor))
    typer.echo(f"{name}@{alias} -> version {version}")


@app.command("rollback")
def rollback(name: str,
             stage: Annotated[str, typer.Option("--stage", help="staging or production.")] =
             "production",
             reason: Annotated[str, typer.Option("--reason")] = "",
             actor: ActorOpt = None) -> None:
    """Put back the version that held STAGE before the current one."""
    mv = _service().rollback(name, stage, actor=_actor(actor), reason=reason)
    typer.echo(f"rolled back {name} {mv.stage} to version {mv.version}")


@app.command("history")
def history(name: str,
            version: Annotated[int | None, typer.Option("--version", help="One version.")] =
            None,
            limit: Annotated[int, typer.Option("--limit", help="Newest N entries.")] = 100,
            as_json: JsonOpt = False) -> None:
    """Show the audit log of a model (stage moves, aliases, rollbacks), oldest first."""
    entries = _service().history(name, version, limit=limit)
    if as_json:
        _echo_json([e.to_dict() for e in entries])
        return
    _table(f"history of {name}", ["at", "action", "version", "change", "actor", "reason"], [
        [_when(e.at), e.action, e.version, _change(e), e.actor, e.reason] for e in entries])


def _change(entry: Any) -> str:
    if entry.action in ("stage", "rollback"):
        displaced = (f" (archived v{entry.displaced_version})"
                     if entry.displaced_version is not None else "")
        return f"{entry.from_value} -> {entry.to_value}{displaced}"
    if entry.action in ("alias", "alias_delete"):
        return f"@{entry.field}: {entry.from_value or '-'} -> {entry.to_value or '-'}"
    return entry.to_value or entry.from_value or ""


@app.command("delete")
def delete(name: str,
           version: Annotated[int | None, typer.Option("--version", help="Only this one.")] =
           None,
           force: Annotated[bool, typer.Option("--force", help="Even if in production.")] =
           False,
           actor: ActorOpt = None) -> None:
    """Delete a model (or one version) and the artifacts nothing else references."""
    service = _service()
    if version is None:
        service.delete_model(name, actor=_actor(actor))
        typer.echo(f"deleted model {name}")
    else:
        service.delete_version(name, version, force=force, actor=_actor(actor))
        typer.echo(f"deleted {name} version {version}")


@app.command("import")
def import_model(path: str, name: Annotated[str, typer.Option("--name", help="The "
                 "registered model to add a version to.")],
                 actor: ActorOpt = None) -> None:
    """Register an MLflow model folder (MLmodel with sklearn, xgboost, lightgbm, pytorch,
    onnx or python_function) as a new version; it loads and serves like a native one."""
    from pathlib import Path

    from modelplane.client import Client
    from modelplane.core.errors import NotFoundError
    from modelplane.migrate_mlflow.versions import FileEntry, register_files

    folder = Path(path)
    if not (folder / "MLmodel").is_file():
        raise NotFoundError(f"{path} is not an MLflow model folder (no MLmodel file)",
                            details={"field": "path"})
    client = Client()
    files = [FileEntry(p.relative_to(folder).as_posix(), client.artifacts.put_file(p),
                       p.stat().st_size) for p in sorted(folder.rglob("*")) if p.is_file()]
    version = register_files(client.tracking, client.registry, client.artifacts, name, files,
                             source=str(folder.resolve()), run_id=None, actor=_actor(actor))
    pickle = " (pickle-based: loading it runs code from the file)" \
        if version.pickled else ""
    typer.echo(f"registered {version.uri}{pickle}")
