"""Inline SVG charts over time for the UI: requests, errors and latency per interval.

One chart is a few series (one per version or variant) of ``(epoch seconds, value)``
points on a time axis (UTC, ticks on round minutes, hours or days) and a value axis from
zero. A point whose value is unknown (no request in the interval, so no latency) breaks
the line instead of drawing a zero. Built on the server like :mod:`.charts`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

from modelplane.server.ui.charts import PALETTE, nice_ticks

__all__ = ["TimeSeries", "time_chart", "time_ticks"]

_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
          604800)


@dataclass
class TimeSeries:
    name: str
    points: Sequence[tuple[float, float | None]]
    colour: str = PALETTE[0]


def time_ticks(start: float, end: float, count: int = 6) -> list[float]:
    """Round times (whole minutes, hours or days) covering ``[start, end]``."""
    span = max(end - start, 1.0)
    step = next((s for s in _STEPS if span / s <= count), _STEPS[-1])
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, step)]


def _clock(at: float, span: float) -> str:
    moment = datetime.fromtimestamp(at, tz=UTC)
    return moment.strftime("%m-%d %H:%M" if span > 86400 else "%H:%M")


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    out: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None or not math.isfinite(y):
            if out[-1]:
                out.append([])
            continue
        out[-1].append((x, y))
    return [s for s in out if s]


def time_chart(series: Sequence[TimeSeries], *, title: str,
               fmt: Callable[[float], str] = lambda v: f"{v:g}", width: int = 560,
               height: int = 190) -> Markup:
    """The series on one time axis; ``fmt`` writes a value (axis ticks and tooltips)."""
    known = [(x, y) for s in series for x, y in s.points if y is not None and math.isfinite(y)]
    times = [x for s in series for x, _ in s.points]
    attrs = (f'class="chart time-chart" data-metric="{escape(title)}" role="img" '
             f'aria-label="{escape(title)} over time"')
    if not times:
        return Markup(f'<svg {attrs} viewBox="0 0 {width} 40" width="{width}" height="40">'
                      f'<text x="8" y="24" class="muted">{escape(title)}: no data in this '
                      "window</text></svg>")
    left, right, top, bottom = 64, 12, 10, 30
    x0, x1 = min(times), max(times)
    x1 = x1 if x1 > x0 else x0 + 60
    y1 = max([y for _, y in known] or [0.0]) or 1.0
    ticks = nice_ticks(0.0, y1 * 1.05)
    y1 = max(ticks[-1], y1) if ticks else y1
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + (1 - y / y1) * plot_h

    parts = [f'<svg {attrs} viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'xmlns="http://www.w3.org/2000/svg">']
    for tick in ticks:
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{sy(tick):.1f}" '
                     f'y2="{sy(tick):.1f}"/><text class="tick y-tick" x="{left - 6}" '
                     f'y="{sy(tick) + 4:.1f}" text-anchor="end">{escape(fmt(tick))}</text>')
    for tick in time_ticks(x0, x1):
        parts.append(f'<text class="tick x-tick" x="{sx(tick):.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle">{_clock(tick, x1 - x0)}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/><text class="axis-label" x="{width - right}" '
                 f'y="{height - 2}" text-anchor="end">UTC</text>')
    for s in series:
        count = sum(1 for _, y in s.points if y is not None)
        parts.append(f'<g class="series" data-series="{escape(s.name)}" data-count="{count}" '
                     f'style="--c:{s.colour}">')
        for segment in _segments(s.points):
            coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in segment)
            parts.append(f'<polyline fill="none" stroke="{s.colour}" points="{coords}"/>')
            for x, y in segment if len(s.points) <= 200 else ():
                parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" '
                             f'fill="{s.colour}"><title>{escape(s.name)} '
                             f'{_clock(x, 0)} UTC: {escape(fmt(y))}</title></circle>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
