"""``modelplane features``: plan and apply a feature repo, list and show definitions,
materialize (with a progress bar), read online values, push rows, check consistency."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli._format import dumps, print_all, when

if TYPE_CHECKING:
    from modelplane.features.service import FeatureStore

__all__ = ["app"]

app = typer.Typer(help="Feature store: definitions, materialization, online reads.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RepoArg = Annotated[str, typer.Argument(help="A feature repo: the folder of Python files "
                                        "declaring entities, views and services (the "
                                        "folder, not one of its files).")]
ViewsOpt = Annotated[list[str] | None, typer.Option("--view", help="Only this view "
                                                    "(repeatable; default: every online view).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Rows per atomic write.")]
PruneOpt = Annotated[bool, typer.Option(
    "--prune/--no-prune", help="Remove the project's registered definitions that the repo "
    "no longer declares (marked removed; their versions stay readable by number).")]
ProjectOpt = Annotated[str | None, typer.Option(
    "--project", help="The project the repo's definitions belong to (default: the repo "
    "folder's name); pruning only ever removes this project's definitions.")]


def _store() -> FeatureStore:
    from modelplane.client import Client

    return Client().features


def _time(value: str, name: str) -> datetime:
    if value == "now":
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        from modelplane.core.errors import InvalidArgumentError

        raise InvalidArgumentError(f"{name}: expected an ISO-8601 time such as 2024-05-01 or "
                                   f"2024-05-01T12:00:00+00:00, or 'now'; got {value!r}",
                                   details={"field": name}) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    return table


def _show_plan(plan: Any, as_json: bool, applied: bool) -> None:
    if as_json:
        typer.echo(dumps(plan.to_dict()))
        return
    marks = {"create": "+", "new_version": "^", "update": "~", "unchanged": " ", "remove": "-",
             "restore": "+"}
    rows = [[marks[c.action], c.kind, c.name, c.action.replace("_", " ")
             + (f" v{c.version}" if c.version and c.action != "update" else ""),
             "; ".join(c.details)] for c in plan.changes]
    print_all(_table("applied" if applied else "plan", ["", "kind", "name", "change", "details"],
                     rows))
    if not plan.has_changes:
        typer.echo("no changes")


@app.command("plan")
def plan(path: RepoArg, prune: PruneOpt = True, project: ProjectOpt = None,
         as_json: JsonOpt = False) -> None:
    """Show what `apply` would change: new definitions, new versions, updates, removals."""
    _show_plan(_store().plan(path, prune=prune, project=project), as_json, applied=False)


@app.command("apply")
def apply(path: RepoArg, prune: PruneOpt = True, project: ProjectOpt = None,
          as_json: JsonOpt = False) -> None:
    """Store the repo's definitions (one transaction; a schema change makes a new version)
    and remove the project's definitions it no longer declares (unless --no-prune)."""
    _show_plan(_store().apply(path, prune=prune, project=project), as_json, applied=True)


@app.command("list")
def list_definitions(as_json: JsonOpt = False) -> None:
    """List entities, feature views (newest versions) and feature services."""
    store = _store()
    entities, views, services = (store.list_entities(), store.list_feature_views(),
                                 store.list_feature_services())
    if as_json:
        typer.echo(dumps({"entities": [e.spec() for e in entities],
                          "views": [{"kind": v.kind, "version": v.version, **_plain(v.spec())}
                                    for v in views],
                          "services": [{"version": s.version, **s.spec()} for s in services]}))
        return
    print_all(
        _table("entities", ["name", "join keys", "description"],
               [[e.name, ", ".join(f"{k} ({d})" for k, d in e.dtypes.items()), e.description]
                for e in entities]),
        _table("feature views", ["name", "version", "kind", "features", "ttl", "source"],
               [[v.name, v.version, v.kind.replace("_feature_view", "").replace("_", " "),
                 ", ".join(v.features), _ttl(getattr(v, "ttl_seconds", None)),
                 _source(v)] for v in views]),
        _table("feature services", ["name", "version", "features"],
               [[s.name, s.version, ", ".join(s.features)] for s in services]))


def _plain(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "transform"}


def _ttl(seconds: float | None) -> str:
    if not seconds:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _source(view: Any) -> str:
    source = getattr(view, "source", None)
    if source is None:
        return "on demand: " + ", ".join(view.inputs)
    spec = source.spec()
    return {"file": spec.get("path"), "sql": spec.get("query"),
            "dataframe": f"dataframe {str(spec.get('digest'))[:12]}"}[spec["type"]]


@app.command("show")
def show(name: str, version: Annotated[int | None, typer.Option("--version", min=1)] = None,
         as_json: JsonOpt = False) -> None:
    """Show a feature view (schema, versions, watermark, last statistics), a service or an
    entity."""
    store = _store()
    info = store.describe_view(name, version) if version else store.describe(name)
    if as_json:
        typer.echo(dumps(info))
        return
    spec = info.get("spec", info)
    lines = [f"{info['kind'].replace('_', ' ')} {name}"
             + (f" v{info['version']}" if info.get("version") else "")]
    for key in ("description", "owner", "join_keys", "ttl_seconds", "timestamp_field",
                "created_timestamp_field", "source", "inputs", "features", "watermark"):
        value = info.get(key, spec.get(key))
        if value not in (None, "", [], {}):
            lines.append(f"  {key}: {value}")
    typer.echo("\n".join(lines))
    renderables = []
    if "schema" in spec:
        renderables.append(_table("schema", ["field", "dtype", "description"],
                                  [[f["name"], f["dtype"], f["description"]]
                                   for f in spec["schema"]]))
    if info.get("versions"):
        renderables.append(_table("versions", ["version", "schema", "created"],
                                  [[v["version"], v["schema_hash"][:12], when(v["created_at"])]
                                   for v in info["versions"]]))
    runs = info.get("materializations") or []
    if runs:
        renderables.append(_table("materializations", ["when", "kind", "rows", "window"],
                                  [[when(r["created_at"]), r["kind"], r["num_rows"],
                                    f"{when(r['start_time']) or '-'} .. {when(r['end_time'])}"]
                                   for r in runs[:10]]))
        profile = next((r["profile"] for r in runs if r["profile"]), None)
        if profile:
            renderables.append(_stats_table(profile))
    if renderables:
        print_all(*renderables)


def _stats_table(profile: dict[str, Any]) -> Any:
    from modelplane.cli._format import number

    rows = [[c["name"], c["kind"], c["null_count"], number(c.get("min")), number(c.get("mean")),
             number(c.get("max"))] for c in profile["columns"]]
    return _table(f"statistics of the last materialization ({profile['num_rows']} rows)",
                  ["feature", "kind", "nulls", "min", "mean", "max"], rows)


def _results(results: list[Any], as_json: bool) -> None:
    if as_json:
        typer.echo(dumps([r.to_dict() for r in results]))
        return
    print_all(_table("materialized", ["view", "version", "rows", "window", "seconds"],
                     [[r.view, r.version, r.rows, f"{when(r.start) or '-'} .. {when(r.end)}",
                       f"{r.seconds:.2f}"] for r in results]))


@app.command("materialize")
def materialize(start: Annotated[str, typer.Argument(help="ISO-8601 start (inclusive).")],
                end: Annotated[str, typer.Argument(help="ISO-8601 end (inclusive), or now.")],
                views: ViewsOpt = None, batch_size: BatchOpt = 10_000,
                as_json: JsonOpt = False) -> None:
    """Write each view's latest row per entity with event time in [START, END] online."""
    results = _store().materialize(_time(start, "start"), _time(end, "end"), views,
                                   batch_size=batch_size, progress=not as_json)
    _results(results, as_json)


@app.command("materialize-incremental")
def materialize_incremental(
        end: Annotated[str, typer.Argument(help="ISO-8601 end, or now.")] = "now",
        views: ViewsOpt = None, batch_size: BatchOpt = 10_000, as_json: JsonOpt = False) -> None:
    """Materialize from each view's watermark (where the last run ended) to END."""
    results = _store().materialize_incremental(_time(end, "end"), views, batch_size=batch_size,
                                               progress=not as_json)
    _results(results, as_json)


def _entities(pairs: list[str]) -> dict[str, list[Any]]:
    from modelplane.core.errors import InvalidArgumentError

    columns: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--entity: expected KEY=VALUE[,VALUE...], got {pair!r}",
                                       details={"field": "entity"})
        columns[key] = [_scalar(v) for v in values.split(",")]
    return columns


def _scalar(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


@app.command("get-online")
def get_online(
        features: Annotated[list[str] | None, typer.Option(
            "--feature", "-f", help="view:feature (repeatable).")] = None,
        service: Annotated[str | None, typer.Option("--service", "-s")] = None,
        entity: Annotated[list[str] | None, typer.Option(
            "--entity", "-e", help="KEY=VALUE[,VALUE...]: join keys and request fields.")] = None,
        full_names: Annotated[bool, typer.Option("--full-names")] = False,
        as_json: JsonOpt = False) -> None:
    """Read online values, their statuses (present, missing, expired) and event times."""
    result = _store().get_online_features(features, _entities(entity or []), service=service,
                                          full_feature_names=full_names)
    if as_json:
        typer.echo(dumps(result.to_json()))
        return
    from modelplane.features.lookup import json_value  # bytes as base64, as over HTTP

    names = list(result.entities)
    rows = []
    n = len(next(iter(result.entities.values()), []))
    for i in range(n):
        row = [result.entities[k][i] for k in names]
        for name in result.values:
            status = result.statuses[name][i]
            value = result.values[name][i]
            row.append(json_value(value) if status == "present" else f"({status})")
        rows.append(row)
    print_all(_table("online features", names + list(result.values), rows))


@app.command("push")
def push(view: str, path: Annotated[str, typer.Argument(help="A Parquet or CSV file.")]) -> None:
    """Write the file's rows online and to the view's offline log."""
    typer.echo(f"pushed {_store().push(view, path)} rows to {view}")


@app.command("validate")
def validate(view: str, sample: Annotated[int, typer.Option("--sample", min=1)] = 1000,
             as_json: JsonOpt = False) -> None:
    """Compare online values with the offline latest values of a sample of entities."""
    report = _store().validate_consistency(view, sample)
    if as_json:
        typer.echo(dumps(report.to_dict()))
    else:
        typer.echo(f"{report.view} v{report.version}: {report.consistent}/{report.sampled} "
                   f"consistent; missing {report.missing}, stale {report.stale}, mismatched "
                   f"{report.mismatched}, newer online {report.newer}")
    if not report.ok:
        raise typer.Exit(1)
