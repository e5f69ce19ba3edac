"""``modelplane deploy``: deployments, traffic, canaries, blue/green, evaluation gates.

Routes are ``NAME=WEIGHT`` (NAME a stage, ``@alias`` or version: ``production=90``,
``v4=10``) or ``NAME:REF=WEIGHT`` (``a:3=50``); gates are ``METRIC:BOUND=VALUE``
(``error_rate:max=0.05``, ``latency_p99:max_ratio=1.5``, ``roc_auc:max_drop=0.01``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from modelplane.deployments.entities import Deployment
    from modelplane.deployments.service import DeploymentService

__all__ = ["app"]

app = typer.Typer(help="Deployments: traffic splits, A/B tests, shadows, canaries with "
                  "automatic analysis, blue/green, evaluation gates.", no_args_is_help=True)
gates_app = typer.Typer(help="Evaluation gates a version must pass to enter a stage.",
                        no_args_is_help=True)
app.add_typer(gates_app, name="gates")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RouteOpt = Annotated[list[str] | None, typer.Option(
    "--route", "-r", help="NAME=WEIGHT or NAME:REF=WEIGHT (repeat); weights sum to 100.")]
ShadowOpt = Annotated[list[str] | None, typer.Option(
    "--shadow", help="A shadow: REF or NAME:REF, optionally =PERCENT of requests copied.")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who makes the change.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the events).")]


def _service() -> DeploymentService:
    from modelplane.client import Client

    return Client().deployments


def _echo_json(data: Any) -> None:
    from modelplane.cli._format import dumps

    typer.echo(dumps(data))


def _show(service: DeploymentService, d: Deployment, as_json: bool) -> None:
    versions: dict[str, Any] = {}
    for v in d.variants:
        try:
            versions[v.name] = service.resolve_one(d, v)
        except Exception:
            versions[v.name] = None
    if as_json:
        _echo_json({**d.to_dict(), "versions": versions})
        return
    from rich.table import Table

    from modelplane.cli._format import print_all

    table = Table(title=f"deployment {d.name} (model {d.model}, revision {d.revision})",
                  title_justify="left")
    for h in ("variant", "ref", "version", "weight", "kind"):
        table.add_column(h)
    for v in d.variants:
        table.add_row(v.name, v.ref, str(versions[v.name] or "?"), f"{v.weight:g}%",
                      "shadow" if v.shadow else "route")
    lines = []
    if d.key_field:
        lines.append(f"sticky key field: {d.key_field} (and header x-modelplane-key)")
    c = d.canary
    if c is not None:
        lines.append(f"canary of version {c.version}: {c.status}, step {c.step + 1}/"
                     f"{len(c.steps)} ({', '.join(f'{s:g}%' for s in c.steps)}), hold "
                     f"{c.hold_seconds:g} s" + (f"; {c.reason}" if c.reason else ""))
    print_all(table)
    for line in lines:
        typer.echo(line)


@app.command("create")
def create(name: str, model: Annotated[str, typer.Option("--model", "-m",
                                                         help="Registered model.")],
           route: RouteOpt = None, shadow: ShadowOpt = None,
           key_field: Annotated[str | None, typer.Option(
               "--key-field", help="Request field whose value makes assignment sticky.")] = None,
           description: Annotated[str, typer.Option(help="A description.")] = "",
           actor: ActorOpt = "", as_json: JsonOpt = False) -> None:
    """Create deployment NAME of MODEL (routes default to production=100)."""
    service = _service()
    d = service.create(name, model, route or None, shadows=shadow, key_field=key_field,
                       description=description, actor=actor)
    _show(service, d, as_json)


@app.command("show")
def show(name: str, as_json: JsonOpt = False) -> None:
    """Variants, weights, versions and the canary of deployment NAME."""
    service = _service()
    _show(service, service.get(name), as_json)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every deployment."""
    service = _service()
    items = service.list()
    if as_json:
        _echo_json([d.to_dict() for d in items])
        return
    from rich.table import Table

    from modelplane.cli._format import print_all

    table = Table(title="deployments", title_justify="left")
    for h in ("name", "model", "routes", "canary", "revision"):
        table.add_column(h, overflow="fold")
    for d in items:
        routes = ", ".join(f"{v.name}={v.weight:g}" + (" (shadow)" if v.shadow else "")
                           for v in d.variants)
        canary = f"v{d.canary.version} {d.canary.status}" if d.canary else ""
        table.add_row(d.name, d.model, routes, canary, str(d.revision))
    print_all(table)


@app.command("set-traffic")
def set_traffic(name: str, route: RouteOpt = None, shadow: ShadowOpt = None,
                no_shadows: Annotated[bool, typer.Option(
                    "--no-shadows", help="Remove every shadow.")] = False,
                actor: ActorOpt = "", reason: ReasonOpt = "", as_json: JsonOpt = False) -> None:
    """Replace the routes (weights summing to 100) of deployment NAME."""
    if not route:
        raise typer.BadParameter("give at least one --route NAME=WEIGHT")
    service = _service()
    shadows: Any = [] if no_shadows else (shadow or None)
    _show(service, service.set_traffic(name, route, shadows=shadows, actor=actor,
                                       reason=reason), as_json)


@app.command("canary")
def canary(name: str, version: str,
           steps: Annotated[str, typer.Option(help="Candidate shares, e.g. 5,25,50,100.")]
           = "5,25,50,100",
           hold: Annotated[str, typer.Option(help="Hold each step this long (30s, 5m).")]
           = "60s",
           hold_requests: Annotated[int, typer.Option(
               help="...and until the candidate answered this many requests.", min=0)] = 0,
           min_requests: Annotated[int, typer.Option(
               help="Requests in a step before a gate can fail it.", min=0)] = 20,
           gate: Annotated[list[str] | None, typer.Option(
               "--gate", "-g", help="METRIC:BOUND=VALUE (repeat); default error_rate "
               "max_increase 0.01 and latency_p99 max_ratio 1.5.")] = None,
           baseline: Annotated[str | None, typer.Option(help="Baseline variant.")] = None,
           promote_stage: Annotated[str | None, typer.Option(
               help="On success also move the version into this stage.")] = None,
           actor: ActorOpt = "", as_json: JsonOpt = False) -> None:
    """Start a canary of VERSION on deployment NAME, analysed and advanced automatically."""
    service = _service()
    d = service.start_canary(name, version, baseline=baseline, steps=steps, hold=hold,
                             hold_requests=hold_requests, min_requests=min_requests,
                             gates=gate or None, promote_stage=promote_stage, actor=actor)
    _show(service, d, as_json)


@app.command("promote")
def promote(name: str, variant: Annotated[str | None, typer.Option(
        help="Without a canary: the variant that takes all traffic.")] = None,
            actor: ActorOpt = "", reason: ReasonOpt = "", as_json: JsonOpt = False) -> None:
    """Finish NAME's canary now (or give VARIANT all traffic)."""
    service = _service()
    _show(service, service.promote(name, variant, actor=actor, reason=reason), as_json)


@app.command("abort")
def abort(name: str, actor: ActorOpt = "", reason: ReasonOpt = "",
          as_json: JsonOpt = False) -> None:
    """Roll NAME's running canary back to its baseline."""
    service = _service()
    _show(service, service.abort(name, reason=reason, actor=actor), as_json)


@app.command("switch")
def switch(name: str, to: str, actor: ActorOpt = "", reason: ReasonOpt = "",
           as_json: JsonOpt = False) -> None:
    """Blue/green: all traffic to variant (or version) TO at once."""
    service = _service()
    _show(service, service.switch(name, to, actor=actor, reason=reason), as_json)


@app.command("switch-back")
def switch_back(name: str, actor: ActorOpt = "", reason: ReasonOpt = "",
                as_json: JsonOpt = False) -> None:
    """Undo NAME's last switch at once."""
    service = _service()
    _show(service, service.switch_back(name, actor=actor, reason=reason), as_json)


@app.command("delete")
def delete(name: str) -> None:
    """Delete deployment NAME (its events and figures go with it)."""
    _service().delete(name)
    typer.echo(f"deleted deployment {name}")


@app.command("events")
def events(name: str, limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
           as_json: JsonOpt = False) -> None:
    """Changes and canary decisions of NAME, oldest first."""
    items = _service().events(name, limit=limit)
    if as_json:
        _echo_json([e.to_dict() for e in items])
        return
    for e in items:
        typer.echo(f"{e.at:%Y-%m-%d %H:%M:%S} {e.kind:<20} {e.reason}"
                   + (f" ({e.actor})" if e.actor else ""))


@app.command("stats")
def stats(name: str, window: Annotated[str, typer.Option(
        "--window", "-w", help="30s, 5m, 1h (as for `monitor`).")] = "5m",
          as_json: JsonOpt = False) -> None:
    """Per-variant requests, errors and latency over WINDOW (all replicas)."""
    figures = {k: v.to_dict() for k, v in _service().stats(name, window).items()}
    if as_json:
        _echo_json(figures)
        return
    for variant, f in figures.items():
        p99 = f["latency_p99"]
        typer.echo(f"{variant}: {f['requests']} requests, {f['errors']} errors, p99 "
                   f"{'n/a' if p99 is None else f'{p99 * 1000:.1f} ms'}")


@gates_app.command("set")
def gates_set(model: str, gate: Annotated[list[str], typer.Option(
        "--gate", "-g", help="METRIC:BOUND=VALUE, e.g. roc_auc:max_drop=0.01 (repeat).")],
              dataset: Annotated[str, typer.Option(
                  help="run:PATH (an artifact of the version's run) or a Parquet/CSV path.")],
              target: Annotated[str, typer.Option(help="Label column.")] = "target",
              stage: Annotated[list[str] | None, typer.Option(
                  "--stage", help="Gated stage (repeat; default staging and production).")]
              = None, as_json: JsonOpt = False) -> None:
    """Gates a version of MODEL must pass before it enters staging or production."""
    config = _service().set_eval_gates(model, gate, dataset=dataset, target=target,
                                       stages=stage or ("staging", "production"))
    _echo_json({"model": model, **config}) if as_json else typer.echo(
        f"evaluation gates of {model}: {len(config['gates'])} gate(s) on {config['dataset']} "
        f"before {', '.join(config['stages'])}")


@gates_app.command("show")
def gates_show(model: str) -> None:
    """MODEL's evaluation gates (JSON)."""
    _echo_json(_service().get_eval_gates(model))


@gates_app.command("delete")
def gates_delete(model: str) -> None:
    """Remove MODEL's evaluation gates."""
    _service().delete_eval_gates(model)
    typer.echo(f"removed the evaluation gates of {model}")
