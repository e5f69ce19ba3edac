"""Reports: one object with health, drift and performance over a window, rendered as
Rich tables (the CLI), as a standalone HTML page (inline SVG histograms of reference vs
current per column; no JavaScript, no CDN), and as Prometheus gauges.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import NotFoundError
from modelplane.core.timeutil import utcnow
from modelplane.monitoring.prometheus import MonitoringCollector  # re-exported

if TYPE_CHECKING:
    from modelplane.monitoring.entities import DriftReport
    from modelplane.monitoring.health import HealthReport
    from modelplane.monitoring.performance import PerformanceReport
    from modelplane.monitoring.service import MonitoringService

__all__ = ["MonitorReport", "MonitoringCollector", "build_report", "render_html",
           "report_tables", "short_json", "svg_histogram"]


def short_json(value: Any, width: int = 80) -> str:
    """A logged value as compact JSON, cut at ``width`` characters (table cells in the
    CLI and the UI)."""
    import json

    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[:width - 1] + "…"


@dataclass
class MonitorReport:
    model: str
    window: str
    version: int | None
    created_at: datetime
    health: HealthReport
    performance: PerformanceReport
    drift: DriftReport | None
    drift_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "window": self.window, "version": self.version,
                "created_at": self.created_at, "health": self.health.to_dict(),
                "performance": self.performance.to_dict(),
                "drift": None if self.drift is None else self.drift.to_dict(),
                "drift_error": self.drift_error}


def build_report(service: MonitoringService, model: str, window: str = "1h",
                 version: int | None = None) -> MonitorReport:
    """Health, performance and drift (drift is None, with the reason, when the model has
    no reference profile)."""
    health = service.health(model, window, version)
    performance = service.performance(model, window, version)
    drift, error = None, None
    try:
        drift = service.drift(model, window, version)
    except NotFoundError as exc:
        error = exc.message
    return MonitorReport(model=model, window=health.window, version=version,
                         created_at=utcnow(), health=health, performance=performance,
                         drift=drift, drift_error=error)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value * 1000:.3g} ms"


def health_rows(report: HealthReport) -> list[list[str]]:
    rows = []
    for h in [report.overall, *report.versions]:
        rows.append(["all" if h.version is None else str(h.version), str(h.requests),
                     _fmt(h.error_rate), _ms(h.latency_p50_s), _ms(h.latency_p95_s),
                     _ms(h.latency_p99_s), _fmt(h.throughput_per_s), _fmt(h.cache_hit_rate),
                     str(h.dropped)])
    return rows


HEALTH_HEADER = ["version", "requests", "error rate", "p50", "p95", "p99", "req/s",
                 "cache hits", "dropped"]
DRIFT_HEADER = ["column", "kind", "n", "test", "p-value", "effect", "size", "threshold",
                "drifted", "psi", "out of range / unseen", "missing"]
PERF_HEADER = ["version", "task", "predictions", "labelled", "metrics"]


def drift_rows(report: DriftReport) -> list[list[str]]:
    rows = []
    for c in report.result.columns:
        odd = c.unseen if c.kind == "categorical" else c.below_range + c.above_range
        name = c.column if c.role == "feature" else f"prediction:{c.column}"
        rows.append([name, c.kind, str(c.n_current), c.test, _fmt(c.p_value, 3), c.effect,
                     _fmt(c.effect_size), _fmt(c.threshold), "DRIFT" if c.drifted else "",
                     _fmt(c.scores.get("psi")), str(odd), str(c.missing_current)])
    return rows


def performance_rows(report: PerformanceReport) -> list[list[str]]:
    return [["all" if p.version is None else str(p.version), p.task, str(p.predictions),
             str(p.labelled), ", ".join(f"{k}={_fmt(v)}" for k, v in p.metrics.items()
                                        if v is not None)]
            for p in [report.overall, *report.versions]]


def drift_summary(report: DriftReport) -> str:
    r = report.result
    return (f"{r.drifted_features} of {r.feature_count} features drifted "
            f"(share {r.share:.2f}; dataset drift: {'yes' if r.dataset_drift else 'no'}; "
            f"prediction drift: {'yes' if r.prediction_drift else 'no'}); "
            f"{r.n_current} predictions vs {r.n_reference} reference rows; "
            f"versions {', '.join(map(str, report.versions)) or 'none'}")


def report_tables(report: MonitorReport) -> list[Any]:
    """Rich renderables for the CLI."""
    from rich.table import Table

    def table(title: str, header: list[str], rows: list[list[str]]) -> Table:
        t = Table(title=title, title_justify="left")
        for h in header:
            t.add_column(h, overflow="fold")
        for r in rows:
            t.add_row(*r)
        return t

    out: list[Any] = [table(f"health of {report.model} over {report.window}", HEALTH_HEADER,
                            health_rows(report.health))]
    if report.drift is not None:
        out.append(table(f"drift of {report.model} over {report.window}: "
                         f"{drift_summary(report.drift)}", DRIFT_HEADER,
                         drift_rows(report.drift)))
    else:
        out.append(f"drift: {report.drift_error}")
    out.append(table(f"performance of {report.model} over {report.window}", PERF_HEADER,
                     performance_rows(report.performance)))
    return out


# -- HTML ---------------------------------------------------------------------------------


def _share_ticks(top: float) -> list[float]:
    """Round shares from 0 to at least ``top`` (4 to 6 of them)."""
    step = next((t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5) if top / t <= 5), 0.5)
    count = max(1, math.ceil(top / step - 1e-9))
    return [round(i * step, 4) for i in range(count + 1)]


def svg_histogram(labels: list[str], reference: list[float], current: list[float],
                  width: int = 420, height: int = 150) -> str:
    """Reference (grey) and current (blue) shares side by side, one group per bin, on a y
    axis of shares (ticks and grid lines) with every bin labelled under it (slanted when
    they would not fit side by side; each bar's title has the exact figures)."""
    n = max(len(labels), 1)
    ticks = _share_ticks(max([*reference, *current, 1e-12]))
    top = ticks[-1] or 1.0
    longest = max((len(label) for label in labels), default=1)
    left, right = 44, 8
    group = (width - left - right) / n
    slanted = longest * 6.2 > group
    if slanted:  # the first bin's label slants left of its bar: make room for it
        left = max(left, min(int(longest * 4.75 - group / 2) + 4, 120))
        group = (width - left - right) / n
    label_h = min(110, int(longest * 4.6) + 14) if slanted else 16
    plot_h = height - 10
    base = 6 + plot_h
    bar = max(group / 2 - 1, 0.5)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{base + label_h + 4}" role="img" class="hist" '
             'font-family="system-ui, sans-serif">', '<g class="y-axis" font-size="10">']
    for tick in ticks:
        y = base - plot_h * tick / top
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="#eceff1"/><text x="{left - 4}" y="{y + 3:.1f}" '
                     f'text-anchor="end" fill="#5f6368">{tick:.0%}</text>')
    parts.append(f'<text x="10" y="{6 + plot_h / 2:.1f}" fill="#5f6368" text-anchor="middle" '
                 f'transform="rotate(-90 10 {6 + plot_h / 2:.1f})">share of rows</text></g>')
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" '
                 'stroke="#999"/>')
    for i, (label, r, c) in enumerate(zip(labels, reference, current, strict=False)):
        x = left + i * group
        for j, (share, colour) in enumerate(((r, "#9aa0a6"), (c, "#1a73e8"))):
            h = plot_h * share / top
            parts.append(f'<rect x="{x + j * bar + 0.5:.1f}" y="{base - h:.1f}" '
                         f'width="{bar:.1f}" height="{h:.1f}" fill="{colour}"><title>'
                         f'{html.escape(label)}: {"reference" if j == 0 else "current"} '
                         f'{share:.2%}</title></rect>')
        middle = x + group / 2
        turn = f' transform="rotate(-40 {middle:.1f} {base + 12})"' if slanted else ""
        parts.append(f'<text class="bin-label" x="{middle:.1f}" y="{base + 12}" '
                     f'font-size="10" text-anchor="{"end" if slanted else "middle"}"{turn}>'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>modelplane monitor report: {{ r.model }} ({{ r.window }})</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#202124}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #dadce0;
padding:.25rem .5rem;font-size:.85rem;text-align:left}th{background:#f1f3f4}
.drift{color:#c5221f;font-weight:600}.cols{display:flex;flex-wrap:wrap;gap:1rem}
.col{border:1px solid #dadce0;border-radius:6px;padding:.5rem}.col h3{margin:.2rem 0;
font-size:.95rem}.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem}
.muted{color:#5f6368;font-size:.85rem}
</style></head><body>
<h1>{{ r.model }}: monitoring over {{ r.window }}</h1>
<p class="muted">generated {{ r.created_at.strftime('%Y-%m-%d %H:%M:%S') }} UTC
{% if r.version is not none %}; version {{ r.version }}{% endif %}</p>
<h2>Health</h2>
<table><tr>{% for h in health_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in health %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>Performance (delayed labels)</h2>
<table><tr>{% for h in perf_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in perf %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>Drift</h2>
{% if r.drift is none %}<p>{{ r.drift_error }}</p>{% else %}
<p>{{ summary }}; reference {{ r.drift.reference.source }}
({{ r.drift.reference.num_rows }} rows).</p>
<table><tr>{% for h in drift_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in drift %}<tr{% if row[8] %} class="drift"{% endif %}>
{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
<p class="legend"><span style="background:#9aa0a6"></span>reference
<span style="background:#1a73e8"></span>current</p>
<div class="cols">{% for c in charts %}<div class="col"><h3{% if c.drifted %}
 class="drift"{% endif %}>{{ c.name }}</h3>{{ c.svg | safe }}
<div class="muted">{{ c.note }}</div></div>{% endfor %}</div>{% endif %}
</body></html>
"""


def render_html(report: MonitorReport) -> str:
    """A standalone HTML page (inline CSS and SVG only)."""
    from jinja2 import Environment

    charts = []
    if report.drift is not None:
        for c in report.drift.result.columns:
            hist = c.histogram or {}
            if not hist.get("labels"):
                continue
            charts.append({
                "name": c.column if c.role == "feature" else f"prediction:{c.column}",
                "drifted": c.drifted,
                "svg": svg_histogram(hist["labels"], hist["reference"], hist["current"]),
                "note": f"{c.effect} {_fmt(c.effect_size)}, {c.test} p {_fmt(c.p_value, 3)}"})
    env = Environment(autoescape=True)
    return env.from_string(_TEMPLATE).render(
        r=report, health_header=HEALTH_HEADER, health=health_rows(report.health),
        perf_header=PERF_HEADER, perf=performance_rows(report.performance),
        drift_header=DRIFT_HEADER, drift=drift_rows(report.drift) if report.drift else [],
        summary=drift_summary(report.drift) if report.drift else "", charts=charts)


# -- Prometheus ---------------------------------------------------------------------------
