"""``modelplane runs``: search, inspect and maintain experiment runs.

``list`` searches with the filter language (``metrics.auc > 0.9 and params.C = '1'``),
``show`` prints one run (params, latest metrics, tags, datasets, artifacts, code
version), ``history`` a metric's points with a sparkline. ``--json`` prints JSON.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli import _format as fmt

if TYPE_CHECKING:
    from rich.table import Table

    from modelplane.tracking.entities import Metric, Run
    from modelplane.tracking.service import TrackingService

__all__ = ["app"]

app = typer.Typer(help="Experiment runs: search, inspect, history.", no_args_is_help=True)
RunArg = Annotated[str, typer.Argument(
    help="The run: its id, a unique start of it, the short id printed (its last 8 "
         "characters) or a unique run name.")]

_STATUS_STYLE = {"running": "yellow", "finished": "green", "failed": "red", "killed": "magenta"}
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _tracking() -> TrackingService:
    from modelplane.client import Client

    return Client().tracking


def _table(title: str, *columns: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    return table


# -- list ------------------------------------------------------------------------------
@app.command("list")
def list_runs(
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", help="Experiment name or id (repeatable); default: all.")] = None,
    filter: Annotated[str, typer.Option(
        "--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.C = '1.0'\"")] = "",
    order_by: Annotated[str, typer.Option(
        "--order-by", help="e.g. \"metrics.auc desc, start_time\"")] = "",
    max_results: Annotated[int, typer.Option("--max", min=1, help="At most this many runs.")
                           ] = 50,
    include_deleted: Annotated[bool, typer.Option("--all", help="Include deleted runs.")
                               ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first unless --order-by says otherwise."""
    tracking = _tracking()
    page = tracking.search_runs(filter, experiments=experiment or None, order_by=order_by,
                                max_results=max_results, include_deleted=include_deleted)
    if as_json:
        typer.echo(fmt.dumps([r.to_dict() for r in page.runs]))
        return
    names = {e.id: e.name for e in tracking.list_experiments(include_deleted=True)}
    more = f"[dim]more runs match: raise --max (now {max_results})[/dim]"
    fmt.print_all(_runs_table(page.runs, names, f"{filter} {order_by}"),
                  *([more] if page.next_page_token else []))


def _key_columns(runs: list[Run], kind: str, limit: int, mentioned: str) -> list[str]:
    """The keys of ``kind`` (metrics/params) to show: those the filter or order names
    first, then the most common."""
    counts = Counter(k for run in runs for k in getattr(run, kind))
    named = [k for k in re.findall(rf"{kind}\.`?([\w\-./:]+)", mentioned) if k in counts]
    common = sorted(counts, key=lambda k: (-counts[k], k))
    return list(dict.fromkeys([*named, *common]))[:limit]


def _runs_table(runs: list[Run], experiments: dict[str, str], mentioned: str) -> Table:
    from modelplane.core.timeutil import utcnow

    metric_keys = _key_columns(runs, "metrics", 4, mentioned)
    param_keys = _key_columns(runs, "params", 3, mentioned)
    several = len({r.experiment_id for r in runs}) > 1
    table = _table(f"runs ({len(runs)})")
    table.add_column("id", no_wrap=True, min_width=32)
    for column in ["name", *(["experiment"] if several else []), "status", "start",
                   "duration", *metric_keys, *(f"param {k}" for k in param_keys)]:
        table.add_column(column, justify="right" if column in metric_keys else "left")
    now = utcnow()
    for r in runs:
        style = _STATUS_STYLE.get(r.status, "")
        table.add_row(
            r.id, r.name, *([experiments.get(r.experiment_id, r.experiment_id)] if several
                            else []),
            f"[{style}]{r.status}[/{style}]" if style else r.status, fmt.when(r.start_time),
            fmt.duration(r.start_time, r.end_time, now),
            *(fmt.number(r.metrics.get(k)) for k in metric_keys),
            *(r.params.get(k, "") for k in param_keys))
    return table


# -- show ------------------------------------------------------------------------------
@app.command("show")
def show(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """Show a run: params, latest metrics, tags, datasets, artifacts and code version."""
    tracking = _tracking()
    run_id = tracking.resolve_run_id(run_id)
    run = tracking.get_run(run_id)
    experiment = tracking.get_experiment(run.experiment_id)
    datasets = tracking.run_datasets(run_id)
    artifacts = tracking.list_artifacts(run_id)
    if as_json:
        typer.echo(fmt.dumps({
            **run.to_dict(), "experiment": experiment.name,
            "datasets": [{k: v for k, v in d.to_dict().items() if k != "profile"}
                         for d in datasets],
            "artifacts": [{"path": a.path, "digest": a.digest, "is_dir": a.is_dir,
                           "size": a.size, "created_at": a.created_at} for a in artifacts]}))
        return
    out: list[Any] = [_summary(run, experiment.name)]
    for title, values in (("params", run.params), ("metrics (latest)", run.metrics),
                          ("tags", run.tags)):
        if values:
            table = _table(title, "key", "value")
            for key in sorted(values):
                value = values[key]
                table.add_row(key, fmt.number(value) if isinstance(value, float) else value)
            out.append(table)
    if datasets:
        table = _table("datasets", "role", "name", "rows", "columns", "digest")
        for d in datasets:
            table.add_row(d.role or "", d.name, str(d.num_rows), str(d.num_columns),
                          d.digest[:12])
        out.append(table)
    if artifacts:
        table = _table("artifacts", "path", "kind", "size", "digest")
        for a in artifacts:
            table.add_row(a.path, "folder" if a.is_dir else "file", str(a.size), a.digest[:12])
        out.append(table)
    versions = _registered(run_id)
    if versions:
        table = _table("model versions registered from this run", "uri", "stage", "flavor")
        for v in versions:
            table.add_row(v.uri, v.stage, v.flavor)
        out.append(table)
    fmt.print_all(*out)


def _registered(run_id: str) -> list[Any]:
    from modelplane.client import Client

    return Client().registry.search_versions(f"run_id = '{run_id}'", max_results=100).items


def _summary(run: Run, experiment: str) -> Table:
    from modelplane.core.timeutil import utcnow

    code = run.code_commit or "(not in a git repository)"
    if run.code_commit and run.code_dirty:
        code += " (uncommitted changes)"
    table = _table(f"run {run.id}")
    table.show_header = False
    table.add_column(style="bold cyan")
    table.add_column()
    for key, value in (
        ("name", run.name), ("experiment", experiment), ("status", run.status),
        ("lifecycle", run.lifecycle), ("start", fmt.when(run.start_time)),
        ("end", fmt.when(run.end_time)),
        ("duration", fmt.duration(run.start_time, run.end_time, utcnow())),
        ("parent run", run.parent_run_id or ""), ("user", run.user),
        ("host", f"{run.host} (pid {run.pid})" if run.pid else run.host),
        ("source", run.source), ("code version", code),
    ):
        if value:
            table.add_row(key, value)
    return table


# -- history ---------------------------------------------------------------------------
@app.command("history")
def history(
    run_id: RunArg,
    key: Annotated[str, typer.Argument(help="The metric's key.")],
    tail: Annotated[int, typer.Option(
        "--tail", min=0, help="Table rows: the last N points (0: all).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Show every logged point of a metric, with a sparkline of its values."""
    tracking = _tracking()
    run_id = tracking.resolve_run_id(run_id)
    points = _history(tracking, run_id, key)
    if as_json:
        typer.echo(fmt.dumps([{"key": m.key, "value": m.value, "step": m.step,
                               "timestamp": m.timestamp} for m in points]))
        return
    values = [m.value for m in points]
    summary = (f"[bold]{key}[/bold]  {fmt.sparkline(values)}  min {fmt.number(min(values))}"
               f"  max {fmt.number(max(values))}  last {fmt.number(values[-1])}"
               f"  ({len(values)} points)")
    shown = points[-tail:] if tail else points
    table = _table(f"{key} of run {run_id}", "step", "value", "timestamp")
    for m in shown:
        table.add_row(str(m.step), fmt.number(m.value), m.timestamp.isoformat())
    note = f"[dim]last {len(shown)} of {len(points)} points; --tail 0 for all[/dim]"
    fmt.print_all(summary, table, *([note] if len(shown) < len(points) else []))


def _history(tracking: TrackingService, run_id: str, key: str) -> list[Metric]:
    from modelplane.core.errors import NotFoundError

    points = tracking.metric_history(run_id, key)
    if points:
        return points
    known = sorted(tracking.get_run(run_id).metrics)  # unknown run: NotFoundError
    raise NotFoundError(f"run {run_id} has no metric {key!r}"
                        + (f"; it has {', '.join(known)}" if known else "; it has no metrics"),
                        details={"run_id": run_id, "key": key})


# -- maintenance -----------------------------------------------------------------------
@app.command("fail-stale")
def fail_stale() -> None:
    """Mark failed the running runs on this host whose process is gone."""
    failed = _tracking().fail_stale_runs()
    for run in failed:
        typer.echo(f"failed {run.id} {run.name!r} (pid {run.pid} is gone)")
    typer.echo(f"{len(failed)} stale run{'' if len(failed) == 1 else 's'} marked failed")


@app.command("delete")
def delete(run_id: RunArg) -> None:
    """Delete a run (soft: hidden from searches, restorable)."""
    tracking = _tracking()
    run = tracking.delete_run(tracking.resolve_run_id(run_id))
    typer.echo(f"deleted run {run.id} (undo with: modelplane runs restore {run.id})")


@app.command("restore")
def restore(run_id: RunArg) -> None:
    """Restore a deleted run."""
    tracking = _tracking()
    run = tracking.restore_run(tracking.resolve_run_id(run_id))
    typer.echo(f"restored run {run.id}")
