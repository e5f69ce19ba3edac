"""``modelplane monitor``: reports, health, drift, the prediction log, labels, references,
alert rules, alerts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from modelplane.monitoring.service import MonitoringService

__all__ = ["app"]

app = typer.Typer(help="Watch served models: health, drift, delayed labels, alert rules.",
                  no_args_is_help=True)
rules_app = typer.Typer(help="Alert rules: list, add, delete, evaluate.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
WindowOpt = Annotated[str, typer.Option("--window", "-w", help="30s, 15m, 1h, 7d, 1000p or "
                                        "START..END (ISO-8601).")]
VersionOpt = Annotated[int | None, typer.Option("--version", help="Only this version.")]
ACTION_EXAMPLE = ('{"type": "start_pipeline", "pipeline": '
                  '"modelplane.pipelines.examples:breast_cancer", "params": {"C": 0.5}}')
ACTION_HELP = ("An action as JSON (repeatable), e.g. --action '" + ACTION_EXAMPLE + "'. "
               "Types: start_pipeline (pipeline, params; run_now: run it here instead of "
               "queueing it for the scheduler), rollback_deployment and fail_canary "
               "(deployment), webhook (url).")


def _service(model: str | None = None) -> MonitoringService:
    """The monitoring service; with ``model``, first the check that the model is known: a
    registered model, or one with predictions, a reference or rules (models served
    elsewhere log predictions without being registered). A typo would otherwise read as
    a model with no traffic: empty tables and exit 0."""
    from modelplane.client import Client
    from modelplane.core.errors import NotFoundError

    client = Client()
    monitoring = client.monitoring
    if model is None:
        return monitoring
    try:
        client.registry.get_model(model)
    except NotFoundError as exc:
        if (monitoring.list_references(model) or monitoring.list_rules(model)
                or monitoring.health(model, "1p").overall.requests):
            return monitoring
        close = exc.details.get("suggestions") or []
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise NotFoundError(f"no model {model!r}: it is not registered and has no "
                            f"predictions, reference or rules{hint}",
                            details={"model": model, "suggestions": close}) from None
    return monitoring


def _print(*renderables: Any) -> None:
    from modelplane.cli._format import print_all

    print_all(*renderables)


def _echo_json(data: Any) -> None:
    from modelplane.cli._format import dumps

    typer.echo(dumps(data))


def _table(title: str, header: list[str], rows: list[list[str]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for h in header:
        table.add_column(h, overflow="fold")
    for r in rows:
        table.add_row(*["" if v is None else str(v) for v in r])
    return table


@app.command("report")
def report(model: str, window: WindowOpt = "1h", version: VersionOpt = None,
           html: Annotated[Path | None, typer.Option("--html", help="Also write a standalone "
                                                     "HTML report with histograms.")] = None,
           as_json: JsonOpt = False) -> None:
    """Health, drift and performance of MODEL over a window."""
    from modelplane.monitoring.report import build_report, render_html, report_tables

    built = build_report(_service(model), model, window, version)
    if html is not None:
        html.write_text(render_html(built), encoding="utf-8")
    if as_json:
        _echo_json(built.to_dict())
        return
    _print(*report_tables(built))
    if html is not None:
        typer.echo(f"wrote {html}")


@app.command("health")
def health(model: str, window: WindowOpt = "1h", version: VersionOpt = None,
           as_json: JsonOpt = False) -> None:
    """Requests, error rate, latency quantiles, throughput and dropped log records."""
    from modelplane.monitoring.report import HEALTH_HEADER, health_rows

    result = _service(model).health(model, window, version)
    if as_json:
        _echo_json(result.to_dict())
        return
    _print(_table(f"health of {model} over {result.window}", HEALTH_HEADER,
                  health_rows(result)))


@app.command("drift")
def drift(model: str, window: WindowOpt = "1h", version: VersionOpt = None,
          as_json: JsonOpt = False) -> None:
    """Drift of each column against the reference profile."""
    from modelplane.monitoring.report import DRIFT_HEADER, drift_rows, drift_summary

    result = _service(model).drift(model, window, version)
    if as_json:
        _echo_json(result.to_dict())
        return
    _print(_table(f"drift of {model} over {result.window}: {drift_summary(result)}",
                  DRIFT_HEADER, drift_rows(result)))


@app.command("predictions")
def predictions(model: str, window: WindowOpt = "1h", version: VersionOpt = None,
                request_id: Annotated[str | None, typer.Option(
                    "--request-id", help="Only this request's rows.")] = None,
                limit: Annotated[int, typer.Option("--limit", help="At most this many rows "
                                                   "(1 to 10000).")] = 20,
                as_json: JsonOpt = False) -> None:
    """The prediction log of MODEL, newest first, with labels where joined."""
    found = _service(model).prediction_log(model, window, version=version,
                                        request_id=request_id, limit=limit)
    if as_json:
        _echo_json([p.to_dict() for p in found])
        return
    from modelplane.monitoring.report import short_json as _short

    rows = [[p.time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], p.request_id
             + (f"[{p.row_index}]" if p.row_index else ""), str(p.version), p.variant or "",
             "" if p.latency_s is None else f"{p.latency_s * 1000:.2f}",
             p.status if p.error is None else f"{p.status}: {p.error}",
             _short(p.outputs, 60), _short(p.label, 60) if p.labelled else "",
             _short(p.inputs, 60)]
            for p in found]
    _print(_table(f"prediction log of {model} over {window}: {len(found)} row(s), newest "
                  "first", ["time (UTC)", "request", "version", "variant", "latency ms",
                            "status", "outputs", "label", "inputs"], rows))


@app.command("labels")
def labels(model: str,
           path: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON file with columns "
                                                "request_id, label and optionally row_index.")],
           as_json: JsonOpt = False) -> None:
    """Log delayed ground-truth labels, joined to predictions by request id."""
    rows = _read_rows(path)
    result = _service(model).log_labels(model, rows)
    if as_json:
        _echo_json(result.to_dict())
        return
    typer.echo(f"{result.accepted} label(s) joined; {result.unknown} for unknown request "
               f"ids{': ' + ', '.join(result.unknown_request_ids[:10]) if result.unknown else ''}")


def _read_rows(path: Path) -> list[dict[str, Any]]:
    from modelplane.core.errors import InvalidArgumentError

    if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(f"{path}: not valid JSON: {exc}",
                                       details={"field": "path"}) from None
        return data if isinstance(data, list) else [data]
    from modelplane.data import to_arrow

    return to_arrow(str(path)).to_pylist()


@app.command("reference")
def reference(
    model: str,
    data: Annotated[Path | None, typer.Option("--data", help="Training features: CSV or "
                                              "Parquet.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Digest of a logged "
                                                "dataset.")] = None,
    predictions: Annotated[Path | None, typer.Option("--predictions", help="Reference "
                                                     "predictions: CSV or Parquet.")] = None,
    version: VersionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set MODEL's reference profile (or show it when neither --data nor --dataset)."""
    service = _service(model if data is None and dataset is None else None)
    if data is None and dataset is None:
        ref = service.reference(model, version)
    else:
        ref = service.set_reference(model, None if data is None else str(data),
                                    predictions=None if predictions is None else str(predictions),
                                    version=version, dataset=dataset)
    out = ref.to_dict()
    if as_json:
        _echo_json(out)
        return
    typer.echo(f"reference of {model} (version {ref.version or 'all'}): {ref.source}, "
               f"{ref.num_rows} rows; features: {', '.join(out['features'])}; predictions: "
               f"{', '.join(out['predictions']) or 'none'}")


@app.command("alerts")
def alerts(model: str, limit: Annotated[int, typer.Option("--limit")] = 50,
           rule: Annotated[str | None, typer.Option("--rule")] = None,
           as_json: JsonOpt = False) -> None:
    """The history of fired alerts, newest first, with each action's outcome."""
    from modelplane.cli._format import number, when

    found = _service(model).alerts(model, limit=limit, rule=rule)
    if as_json:
        _echo_json([a.to_dict() for a in found])
        return
    _print(_table(f"alerts of {model}", ["fired", "rule", "condition", "value", "status",
                                         "actions"], [
        [when(a.fired_at), a.rule_name, f"{a.metric} {a.op} {number(a.threshold)} over "
         f"{a.window}", number(a.value), a.status,
         "; ".join(f"{x['type']}: {x['status']}"
                   + (f" ({x['error']})" if x.get("error") else "") for x in a.actions)]
        for a in found]))


@rules_app.command("list")
def rules_list(model: Annotated[str | None, typer.Argument()] = None,
               as_json: JsonOpt = False) -> None:
    """List alert rules (of MODEL, or all)."""
    from modelplane.cli._format import number, when

    found = _service(model).list_rules(model)
    if as_json:
        _echo_json([r.to_dict() for r in found])
        return
    _print(_table("alert rules", ["model", "name", "condition", "window", "cooldown",
                                  "actions", "enabled", "last fired"], [
        [r.model, r.name, f"{r.metric} {r.op} {number(r.threshold)}", r.window,
         f"{r.cooldown_s:g}s", ", ".join(a["type"] for a in r.actions),
         "yes" if r.enabled else "no", when(r.last_fired_at)] for r in found]))


@rules_app.command("add")
def rules_add(
    model: str, name: str,
    metric: Annotated[str, typer.Option("--metric", help="e.g. drift_share, "
                                        "drift:age, latency_p99, error_rate, accuracy.")],
    threshold: Annotated[float, typer.Option("--threshold")],
    op: Annotated[str, typer.Option("--op", help="> >= < <=")] = ">",
    window: WindowOpt = "1h",
    version: VersionOpt = None,
    cooldown: Annotated[str, typer.Option("--cooldown", help="e.g. 10m.")] = "10m",
    webhook: Annotated[list[str] | None, typer.Option("--webhook", help="POST the alert "
                                                      "here (repeatable).")] = None,
    action: Annotated[list[str] | None, typer.Option("--action", help=ACTION_HELP)] = None,
) -> None:
    """Add an alert rule."""
    from modelplane.core.errors import InvalidArgumentError

    actions: list[dict[str, Any]] = [{"type": "webhook", "url": u} for u in webhook or []]
    for text in action or []:
        try:
            actions.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(f"--action: not valid JSON: {exc}",
                                       details={"field": "action"}) from None
    rule = _service(model).create_rule(model, name, metric, threshold, op=op, window=window,
                                  version=version, cooldown=cooldown, actions=actions)
    typer.echo(f"rule {rule.name} on {rule.model}: {rule.metric} {rule.op} {rule.threshold:g} "
               f"over {rule.window}")


@rules_app.command("delete")
def rules_delete(model: str, name: str) -> None:
    """Delete an alert rule (its alert history is kept)."""
    _service().delete_rule(model, name)
    typer.echo(f"deleted rule {name} of {model}")


@rules_app.command("evaluate")
def rules_evaluate(model: Annotated[str | None, typer.Argument()] = None,
                   as_json: JsonOpt = False) -> None:
    """Evaluate rules now and wait for their actions."""
    fired = _service(model).evaluate_rules(model, wait_for_actions=True)
    if as_json:
        _echo_json([a.to_dict() for a in fired])
        return
    if not fired:
        typer.echo("no rule fired")
    for a in fired:
        typer.echo(f"fired {a.model}/{a.rule_name}: {a.metric} = {a.value:.6g} "
                   f"{a.op} {a.threshold:g}; actions {a.status}")
