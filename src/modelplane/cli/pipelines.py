"""``modelplane pipelines``: run, list, show, resume, schedule, trigger, lineage, join;
and ``modelplane scheduler``, the loop that runs schedules and triggers.

``run`` and ``resume`` show each step live (status, attempt, time, cache verdict);
``show`` draws the DAG as a tree with status and timings per step.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli import _format as fmt

if TYPE_CHECKING:
    from rich.console import Console

    from modelplane.pipelines.entities import PipelineRun
    from modelplane.pipelines.runner import StepEvent
    from modelplane.pipelines.service import PipelineService

__all__ = ["app", "scheduler"]

app = typer.Typer(help="Training pipelines: run, resume, inspect, schedule.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="A pipeline parameter as key=value (repeatable).")]
ExecutorOpt = Annotated[str, typer.Option(
    "--executor", "-x", help="local (in-process), subprocess or subprocess:N (a pool of N "
    "workers running independent steps in parallel), or ray (each step a Ray task on the "
    "cluster at --ray-address).")]
RayAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", help="With --executor ray: the cluster, HOST:PORT (the head's GCS), "
    "ray://HOST:10001 (Ray Client) or auto (RAY_ADDRESS, or the cluster on this machine).")]


def _with_address(executor: str, ray_address: str | None) -> str:
    if ray_address is None:
        return executor
    if executor != "ray":
        raise typer.BadParameter("--ray-address needs --executor ray",
                                 param_hint="--ray-address")
    return f"ray:{ray_address}"
RunArg = Annotated[str, typer.Argument(
    help="The pipeline run: its id, a unique start of it, the short id printed (its last 8 "
         "characters), or a pipeline name (its newest run).")]
GATE_STEP = "modelplane.pipelines.gates:_register_fn"
_STYLE = {"succeeded": "green", "cached": "cyan", "running": "yellow", "retrying": "yellow",
          "failed": "red", "skipped": "magenta", "pending": "dim"}
_ICON = {"succeeded": "✓", "cached": "↺", "running": "…", "retrying": "↻", "failed": "✗",
         "skipped": "-", "pending": "·"}


def _service() -> PipelineService:
    from modelplane.client import Client

    return Client().pipelines


def parse_params(items: list[str] | None, defaults: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """``key=value`` strings as typed values: by the parameter's default's type when it
    has one (bool, int, float, str), else JSON when it parses, else the text."""
    from modelplane.core.errors import InvalidArgumentError

    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--param {item!r}: expected key=value",
                                       details={"field": "param"})
        default = (defaults or {}).get(key, inspect.Parameter.empty)
        params[key] = _typed(key, text, default)
    return params


def _typed(key: str, text: str, default: Any) -> Any:
    from modelplane.core.errors import InvalidArgumentError

    kind = type(default)
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if kind in (int, float):
            return kind(text)
        if kind is str:
            return text
    except ValueError:
        raise InvalidArgumentError(f"parameter {key}: expected {kind.__name__}, got {text!r}",
                                   details={"field": key}) from None
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Live:
    """A live table of steps while a run goes (plain lines when not on a terminal)."""

    def __init__(self, console: Console, explain: bool) -> None:
        self.console = console
        self.explain = explain
        self.rows: dict[str, StepEvent] = {}
        self.live: Any = None

    def __enter__(self) -> _Live:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self._render(), console=self.console, transient=False,
                             refresh_per_second=8)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)

    def __call__(self, event: StepEvent) -> None:
        self.rows[event.step] = event
        if self.live is not None:
            self.live.update(self._render())
            return
        line = f"{_ICON.get(event.status, '?')} {event.step} {event.status}"
        if event.attempt > 1:
            line += f" (attempt {event.attempt})"
        if event.duration_s is not None:
            line += f" {event.duration_s:.2f}s"
        if event.error:
            line += f": {event.error}"
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=False, pad_edge=False)
        for _ in range(4 + self.explain):
            table.add_column()
        for event in self.rows.values():
            style = _STYLE.get(event.status, "")
            row = [f"[{style}]{_ICON.get(event.status, '?')}[/]", event.step,
                   f"[{style}]{event.status}[/]" + (f" #{event.attempt}" if event.attempt > 1
                                                     else ""),
                   "" if event.duration_s is None else f"{event.duration_s:.2f}s"]
            if self.explain:
                row.append(event.reason)
            table.add_row(*row)
        return table


def _finish(run: PipelineRun, as_json: bool, explain: bool, console: Console) -> None:
    if as_json:
        typer.echo(fmt.dumps(run.to_dict()))
    else:
        took = f" in {run.duration_s:.2f}s" if run.duration_s is not None else ""
        style = _STYLE.get(run.status, "")
        console.print(f"pipeline run [bold]{run.id}[/] ({run.pipeline}) "
                      f"[{style}]{run.status}[/]{took}")
        if explain:
            for step in run.steps:
                console.print(f"  {step.name}: {step.cache_reason or step.status}",
                              markup=False, highlight=False, soft_wrap=True)
        for line in _gate_decisions(run):
            console.print(line, highlight=False, soft_wrap=True)
    if run.status != "succeeded":
        sys.stderr.write(f"error: pipeline run {run.id} failed: {run.error}\n")
        raise SystemExit(1)


def _gate_decisions(run: PipelineRun) -> list[str]:
    """What each gated ``register`` step decided (its step only says it ran)."""
    lines = []
    for step in run.steps:
        if step.step != GATE_STEP or step.status != "succeeded" or "output" not in step.outputs:
            continue
        report = _service().load_output(run.id, step.name)
        reasons = "; ".join(report.get("reasons") or [])
        name = step.params.get("name", "")
        decision = report.get("decision") or ("registered" if report.get("version")
                                              else "rejected")
        if decision == "registered":
            lines.append(f"[green]gate passed[/]: registered [bold]{name}:{report['version']}"
                         f"[/] → {step.params.get('stage', 'staging')} ({reasons})")
        elif decision == "unchanged":
            lines.append(f"[cyan]model unchanged[/]: it is the artifact "
                         f"{name}:{report['unchanged_from']} was registered from (same data, "
                         f"code and params); nothing registered (gate: {reasons})")
        else:
            lines.append(f"[yellow]gate refused the candidate[/]: nothing registered "
                         f"({reasons})")
    return lines


@app.command("run")
def run(
    pipeline: Annotated[str, typer.Argument(help="module:pipeline or path/file.py:pipeline")],
    param: ParamOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    explain_cache: Annotated[bool, typer.Option(
        "--explain-cache", help="Say why each step hit or missed the cache.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a pipeline and show its steps live."""
    from rich.console import Console

    from modelplane.pipelines.service import load_pipeline

    loaded = load_pipeline(pipeline)
    params = parse_params(param, loaded.parameters)
    console = Console(stderr=as_json)
    with _Live(console, explain_cache) as live:
        result = _service().run(loaded, params, executor=_with_address(executor, ray_address),
                                on_event=live)
    _finish(result, as_json, explain_cache, console)


@app.command("resume")
def resume(
    run_id: RunArg,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rerun a run's failed and unfinished steps, reusing the ones that succeeded."""
    from rich.console import Console

    service = _service()
    run_id = service.resolve_run_id(run_id)
    console = Console(stderr=as_json)
    with _Live(console, True) as live:
        result = service.resume(run_id, executor=_with_address(executor, ray_address),
                                on_event=live)
    _finish(result, as_json, False, console)


@app.command("list")
def list_runs(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")
                        ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List pipeline runs, newest first."""
    runs = _service().list_runs(pipeline, limit=limit)
    if as_json:
        typer.echo(fmt.dumps([r.to_dict() for r in runs]))
        return
    from rich.table import Table

    table = Table(title="pipeline runs", title_justify="left")
    for column in ("id", "pipeline", "status", "steps", "started", "took", "trigger"):
        table.add_column(column)
    for r in runs:
        counts: dict[str, int] = {}
        for s in r.steps:
            counts[s.status] = counts.get(s.status, 0) + 1
        steps = " ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        took = "" if r.duration_s is None else f"{r.duration_s:.2f}s"
        table.add_row(r.id, r.pipeline, f"[{_STYLE.get(r.status, '')}]{r.status}[/]", steps,
                      fmt.when(r.created_at), took, r.trigger)
    fmt.print_all(table)


@app.command("show")
def show(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """The run's DAG as a tree, with status, attempts, timings and cache verdicts."""
    service = _service()
    run = service.get_run(service.resolve_run_id(run_id))
    if as_json:
        typer.echo(fmt.dumps(run.to_dict()))
        return
    fmt.print_all(dag_tree(run))


def dag_tree(run: PipelineRun) -> Any:
    """Each step under its first upstream step; other upstream steps are named."""
    from rich.tree import Tree

    took = "" if run.duration_s is None else f" in {run.duration_s:.2f}s"
    root = Tree(f"[bold]{run.pipeline}[/] run {run.id} [{_STYLE.get(run.status, '')}]"
                f"{run.status}[/]{took} (attempt {run.attempt}) params {json.dumps(run.params)}")
    nodes = {n["name"]: n for n in run.graph.get("nodes", [])}
    steps = {s.name: s for s in run.steps}
    branches: dict[str, Any] = {}
    for name, node in nodes.items():
        parents = [v[0] for v in node["inputs"].values()] + list(node["after"])
        parents = list(dict.fromkeys(p for p in parents if p in branches))
        step = steps.get(name)
        label = _step_label(name, step, parents[1:])
        branches[name] = (branches[parents[0]] if parents else root).add(label)
    return root


def _step_label(name: str, step: Any, also: list[str]) -> str:
    if step is None:
        return name
    style = _STYLE.get(step.status, "")
    parts = [f"{_ICON.get(step.status, '?')} [bold]{name}[/] [{style}]{step.status}[/]"]
    if step.duration_s is not None:
        parts.append(f"{step.duration_s:.2f}s")
    if step.attempts > 1:
        parts.append(f"{step.attempts} attempts")
    if also:
        parts.append(f"(also after {', '.join(also)})")
    outputs = ", ".join(f"{k}={v.kind}:{v.digest[:8]}" for k, v in step.outputs.items())
    if outputs:
        parts.append(f"→ {outputs}")
    if step.cache_reason:
        parts.append(f"[dim]{step.cache_reason}[/]")
    if step.error:
        parts.append(f"[red]{step.error[:300]}[/]")
    return " ".join(parts)


@app.command("lineage")
def lineage(target: Annotated[str, typer.Argument(
        help="A model URI, e.g. models:/NAME:VERSION or models:/NAME@production (where it "
             "came from), or a pipeline run: its id, its start or end, or a pipeline name "
             "(its newest run; what it touched)")],
            as_json: JsonOpt = False) -> None:
    """Follow lineage from a model version back, or from a pipeline run forward, as a tree
    (--json: the full records)."""
    from modelplane.cli.pipelines_lineage import model_tree, run_tree
    from modelplane.client import Client

    client = Client()
    service = client.pipelines
    if target.startswith("models:/") or ":" in target or "@" in target:
        version = client.registry.resolve(target)
        found = service.model_lineage(version.name, version.version)
        if as_json:
            typer.echo(fmt.dumps(found.to_dict()))
            return
        fmt.print_all(model_tree(found))
        return
    data = service.run_lineage(service.resolve_run_id(target))
    if as_json:
        typer.echo(fmt.dumps(data))
        return
    versions = {s["name"]: s["model_versions"] for s in data["steps"]}
    fmt.print_all(run_tree(service.get_run(data["pipeline_run_id"]), versions))


@app.command("schedule")
def schedule(
    pipeline: Annotated[str, typer.Argument(help="A pipeline name that ran here, or "
                                            "module:pipeline.")],
    cron: Annotated[str, typer.Option("--cron", help="e.g. \"0 3 * * *\" (UTC).")],
    param: ParamOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Schedule name (default: the "
                                             "pipeline's).")] = None,
) -> None:
    """Run a pipeline on a cron schedule (``modelplane scheduler`` fires it)."""
    from modelplane.pipelines.schedule import parse_cron

    parse_cron(cron)
    service = _service()
    created = service.scheduler.create_schedule(pipeline, cron, name=name,
                                                params=_params_for(pipeline, param))
    typer.echo(f"schedule {created.name}: {created.pipeline} at {created.cron!r}; next "
               f"{fmt.when(created.next_fire_at)} UTC")


def _params_for(pipeline: str, items: list[str] | None) -> dict[str, Any]:
    if not items:
        return {}
    defaults: dict[str, Any] = {}
    if ":" in pipeline:
        from modelplane.pipelines.service import load_pipeline

        defaults = load_pipeline(pipeline).parameters
    return parse_params(items, defaults)


@app.command("schedules")
def schedules(as_json: JsonOpt = False) -> None:
    """List schedules."""
    items = _service().scheduler.list_schedules()
    if as_json:
        typer.echo(fmt.dumps([s.to_dict() for s in items]))
        return
    from rich.table import Table

    table = Table(title="schedules", title_justify="left")
    for column in ("name", "pipeline", "cron", "params", "next", "last"):
        table.add_column(column)
    for s in items:
        table.add_row(s.name, s.pipeline, s.cron, json.dumps(s.params),
                      fmt.when(s.next_fire_at), fmt.when(s.last_fired_at))
    fmt.print_all(table)


@app.command("unschedule")
def unschedule(name: str) -> None:
    """Delete a schedule."""
    _service().scheduler.delete_schedule(name)
    typer.echo(f"schedule {name} deleted")


@app.command("trigger")
def trigger(
    pipeline: Annotated[str, typer.Argument(help="A pipeline name that ran here, or "
                                            "module:pipeline.")],
    param: ParamOpt = None,
    reason: Annotated[str, typer.Option("--reason")] = "manual trigger",
) -> None:
    """Queue a run for the schedulers (what a monitoring alert does)."""
    queued = _service().scheduler.trigger(pipeline, _params_for(pipeline, param),
                                          reason=reason)
    typer.echo(f"trigger {queued.id} queued for {queued.pipeline}")


@app.command("join")
def join(
    run: Annotated[str, typer.Argument(help="Pipeline run id, or pipeline name (its newest "
                                       "running run).")],
    node_rank: Annotated[int | None, typer.Option("--node-rank", min=0)] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the step.")
                    ] = 300.0,
) -> None:
    """Join a multi-node distributed step from this machine (starts its torchrun agent)."""
    from modelplane.core.errors import NotFoundError
    from modelplane.core.refs import is_fragment
    from modelplane.pipelines.executors.torchrun import join as join_step

    service = _service()
    if is_fragment(run):  # the start or end of a run id, unless it is a pipeline's name
        with contextlib.suppress(NotFoundError):
            run = service.resolve_run_id(run)
    code = join_step(service, run, node_rank=node_rank, wait_s=wait)
    if code != 0:
        sys.stderr.write(f"error: torchrun exited with code {code}\n")
        raise SystemExit(1)


def scheduler(
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between "
                                            "ticks.")] = 10.0,
    once: Annotated[bool, typer.Option("--once", help="One tick, then exit.")] = False,
    executor: ExecutorOpt = "local",
) -> None:
    """Run due schedules and queued triggers from the database (several may run at once;
    each firing runs once)."""
    from rich.console import Console

    console = Console()
    service = _service().scheduler

    def on_event(event: StepEvent) -> None:
        if event.status in ("succeeded", "cached", "failed"):
            console.print(f"{event.pipeline_run_id[-8:]} {event.step} {event.status}",
                          markup=False, highlight=False)

    if once:
        import os
        import socket

        runs = service.tick(f"{socket.gethostname()}:{os.getpid()}", executor=executor,
                            on_event=on_event)
        typer.echo(f"{len(runs)} pipeline run(s)")
        return
    console.print(f"scheduler running (every {interval:g} s); Ctrl-C stops it")
    service.serve(interval=interval, executor=executor, on_event=on_event)
