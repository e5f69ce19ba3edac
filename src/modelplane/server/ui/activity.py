"""Requests, errors and latency over time, as the monitoring and deployment pages chart them:
from the prediction log's health buckets (per model version) or from the serving replicas'
per-variant figures (per deployment variant)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelplane.server.ui.charts import PALETTE
from modelplane.server.ui.timecharts import TimeSeries, time_chart

__all__ = ["deployment_charts", "monitoring_charts"]


def _count(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) else f"{v:.3g}"


def _pct(v: float) -> str:
    return f"{v:.0%}" if v in (0, 1) or v >= 0.1 else f"{v:.1%}"


def _ms(v: float) -> str:
    return f"{v * 1000:.3g} ms"


def _chart(key: str, title: str, series: list[TimeSeries], fmt: Any) -> dict[str, Any]:
    return {"key": key, "title": title, "svg": time_chart(series, title=title, fmt=fmt),
            "legend": [(s.name, s.colour) for s in series]}


def monitoring_charts(points: Mapping[int | None, Sequence[Any]]) -> list[dict[str, Any]]:
    """Charts from ``MonitoringService.health_over_time``: requests (all versions, and each
    version when there are several), error rate the same way, and latency p50 and p99."""
    overall = list(points.get(None) or [])
    if not overall:
        return []
    step = overall[0].seconds
    groups: list[tuple[str, Sequence[Any]]] = [("all versions", overall)]
    versions = sorted(k for k in points if k is not None)
    if len(versions) > 1:
        groups += [(f"v{v}", points[v]) for v in versions]
    colour = {name: PALETTE[i % len(PALETTE)] for i, (name, _) in enumerate(groups)}
    requests = [TimeSeries(n, [(p.start, float(p.requests)) for p in ps], colour[n])
                for n, ps in groups]
    errors = [TimeSeries(n, [(p.start, p.error_rate) for p in ps], colour[n])
              for n, ps in groups]
    latency = [TimeSeries("p50", [(p.start, p.latency_p50_s) for p in overall], PALETTE[0]),
               TimeSeries("p99", [(p.start, p.latency_p99_s) for p in overall], PALETTE[1])]
    per = f"per {_span(step)}"
    return [_chart("requests", f"requests {per}", requests, _count),
            _chart("error_rate", f"error rate {per}", errors, _pct),
            _chart("latency", f"latency p50 and p99 {per}", latency, _ms)]


def deployment_charts(starts: Sequence[float], series: Mapping[str, Sequence[Any]]
                      ) -> list[dict[str, Any]]:
    """Charts from ``DeploymentService.stats_over_time``: requests, error rate and p99
    latency of each variant per interval."""
    if not starts or not series:
        return []
    from modelplane.deployments.stats import quantile

    names = sorted(series)
    colour = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    step = starts[1] - starts[0] if len(starts) > 1 else 60.0

    def line(name: str, value: Any) -> TimeSeries:
        return TimeSeries(name, [(at, value(s)) for at, s in zip(starts, series[name],
                                                                  strict=True)], colour[name])

    per = f"per {_span(step)}"
    return [
        _chart("requests", f"requests {per}", [line(n, lambda s: float(s.n)) for n in names],
               _count),
        _chart("error_rate", f"error rate {per}", [line(n, lambda s: s.error_rate)
                                                   for n in names], _pct),
        _chart("latency", f"latency p99 {per}", [line(n, lambda s: quantile(s.hist, 0.99))
                                                 for n in names], _ms)]


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
