"""Inline SVG charts for the UI: metric curves (one or several series over steps) and
horizontal bar charts (drift scores against a threshold).

Built on the server, so a page needs no JavaScript and no chart library to show them.
Non-finite values (NaN, infinities, which training does produce) are left out of the
curve and counted in the chart's caption. A long curve is drawn from at most
:data:`MAX_POINTS` points (the minimum and maximum of each slice of steps, so spikes stay
visible); markers with a tooltip are drawn while a series has at most :data:`MAX_MARKERS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

__all__ = ["PALETTE", "Bar", "Series", "bar_chart", "line_chart", "nice_ticks"]

PALETTE = ("#1a73e8", "#e8710a", "#188038", "#a142f4", "#d93025", "#12b5cb", "#f9ab00",
           "#5f6368")
MAX_POINTS = 1000
MAX_MARKERS = 200


@dataclass
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    colour: str = PALETTE[0]
    href: str = ""


@dataclass
class Bar:
    label: str
    value: float | None
    flagged: bool = False
    note: str = ""
    href: str = ""
    threshold: float | None = None
    extra: dict[str, str] = field(default_factory=dict)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    digits = max(0, 3 - math.floor(math.log10(step)))  # enough to undo float noise
    k, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return [round(i * step, digits) + 0.0 for i in range(k, last + 1)]


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2g}"
    return f"{value:.4g}"


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """At most MAX_POINTS points: the min and max of each slice, in step order."""
    if len(points) <= MAX_POINTS:
        return points
    size = math.ceil(len(points) / (MAX_POINTS // 2))
    out: list[tuple[float, float]] = []
    for i in range(0, len(points), size):
        chunk = points[i:i + size]
        lo, hi = min(chunk, key=lambda p: p[1]), max(chunk, key=lambda p: p[1])
        out.extend(sorted({lo, hi}))
    return out


def line_chart(series: Sequence[Series], *, title: str = "", x_label: str = "step",
               width: int = 560, height: int = 220) -> Markup:
    """One or several curves on shared axes; ``title`` names the metric."""
    finite = [[(float(x), float(y)) for x, y in s.points if math.isfinite(y)] for s in series]
    dropped = sum(len(s.points) for s in series) - sum(len(f) for f in finite)
    every = [p for f in finite for p in f]
    attrs = (f'class="chart line-chart" data-metric="{escape(title)}" role="img" '
             f'aria-label="{escape(title)} over {escape(x_label)}"')
    if not every:
        return Markup(f'<svg {attrs} viewBox="0 0 {width} 40" width="{width}" height="40">'
                      f'<text x="8" y="24" class="muted">{escape(title)}: no finite values'
                      "</text></svg>")
    left, right, top, bottom = 56, 12, 12, 34
    xs, ys = [p[0] for p in every], [p[1] for p in every]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y0 == y1:
        y0, y1 = y0 - (abs(y0) or 1) * 0.05, y1 + (abs(y1) or 1) * 0.05
    pad = (y1 - y0) * 0.06  # no point on the frame
    y0, y1 = y0 - pad, y1 + pad
    whole = all(x == int(x) for x in xs)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    parts = [f'<svg {attrs} viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for tick in nice_ticks(y0, y1):
        y = sy(tick)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="tick" x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{_label(tick)}</text>')
    for tick in nice_ticks(x0, x1, 6):
        if whole and tick != int(tick):
            continue  # integer steps: no tick between them
        x = sx(tick)
        parts.append(f'<text class="tick" x="{x:.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle">{_label(tick)}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/><text class="axis-label" x="{width - right}" '
                 f'y="{height - 4}" text-anchor="end">{escape(x_label)}</text>')
    for s, pts in zip(series, finite, strict=True):
        drawn = _thin(pts)
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in drawn)
        parts.append(f'<g class="series" data-series="{escape(s.name)}" '
                     f'data-count="{len(pts)}" style="--c:{s.colour}">'
                     f'<polyline fill="none" stroke="{s.colour}" points="{coords}"/>')
        if len(pts) <= MAX_MARKERS:
            for x, y in pts:
                parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" '
                             f'fill="{s.colour}"><title>{escape(s.name)}: {escape(x_label)} '
                             f'{_label(x)}, {escape(title)} {y:.6g}</title></circle>')
        parts.append("</g>")
    parts.append("</svg>")
    svg = "".join(parts)
    if dropped:
        svg += (f'<div class="muted small">{dropped} non-finite value'
                f'{"s" if dropped != 1 else ""} (NaN or infinite) not drawn</div>')
    return Markup(svg)


#: label widths: about this many pixels per character at the chart's font size, and the
#: widest label column before labels are shortened (the full name stays in their title)
CHAR_PX, MAX_LABEL_PX = 6.6, 320


def _fit(label: str, room: float) -> str:
    """``label``, or its start and end around an ellipsis when it needs more than
    ``room`` pixels (the end is kept: long feature names often differ there)."""
    chars = int(room / CHAR_PX)
    if len(label) <= chars:
        return label
    keep = max(chars - 1, 2)
    return label[:keep - keep // 3] + "…" + label[len(label) - keep // 3:]


def bar_chart(bars: Sequence[Bar], *, width: int = 560, unit: str = "") -> Markup:
    """Horizontal bars, one per item, each with its own threshold as a dashed mark;
    flagged bars are red and say so. The label column grows with the longest label (up
    to :data:`MAX_LABEL_PX`, then labels are shortened); the chart widens with it."""
    row, right = 26, 150
    longest = max((len(b.label) for b in bars), default=0)
    left = int(min(max(130.0, longest * CHAR_PX + 16), MAX_LABEL_PX + 16))
    width += left - 130
    height = row * len(bars) + 8
    values = [b.value for b in bars if b.value is not None and math.isfinite(b.value)]
    limits = [b.threshold * 1.25 for b in bars if b.threshold is not None]
    top = max([*values, *limits, 1e-12])
    plot_w = width - left - right
    parts = [f'<svg class="chart bar-chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for i, b in enumerate(bars):
        y = 4 + i * row
        value = b.value if b.value is not None and math.isfinite(b.value) else 0.0
        w = max(plot_w * value / top, 1.0)
        extra = "".join(f' data-{escape(k)}="{escape(v)}"' for k, v in b.extra.items())
        shown = "" if b.value is None else f"{b.value:.3g}{unit}"
        flag = " drifted" if b.flagged else ""
        limit = "" if b.threshold is None else f" (threshold {b.threshold:.3g})"
        body = (f'<text class="bar-label" x="{left - 8}" y="{y + 15}" text-anchor="end">'
                f'<title>{escape(b.label)}</title>{escape(_fit(b.label, left - 16))}</text>'
                f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" '
                f'height="{row - 8}"><title>{escape(b.label)}: {shown}{limit}{escape(b.note)}'
                f'</title></rect><text class="bar-value" x="{left + w + 6:.1f}" '
                f'y="{y + 15}">{shown}{flag}</text>')
        if b.threshold is not None:
            x = left + plot_w * b.threshold / top
            body += (f'<line class="threshold" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" '
                     f'y2="{y + row - 2}"/>')
        if b.href:
            body = f'<a href="{escape(b.href)}">{body}</a>'
        parts.append(f'<g class="bar{flag}" data-label="{escape(b.label)}"{extra}>{body}</g>')
    parts.append("</svg>")
    return Markup("".join(parts))
