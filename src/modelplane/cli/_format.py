"""Small formatting helpers shared by CLI commands: JSON output, times, numbers, sparklines."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

__all__ = ["dumps", "duration", "number", "print_all", "sparkline", "when"]

BLOCKS = "▁▂▃▄▅▆▇█"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no infinity
    return value


def dumps(data: Any) -> str:
    """``data`` as indented JSON: times as ISO-8601, non-finite numbers as null."""
    return json.dumps(_plain(data), indent=2, allow_nan=False)


def print_all(*renderables: Any) -> None:
    """Print Rich renderables; piped (not a terminal), tables keep their natural width
    instead of being squeezed into 80 columns."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal and renderables:
        ruler = Console(width=1000)
        console.width = max(console.width,
                            *(ruler.measure(r).maximum for r in renderables))
    for renderable in renderables:
        console.print(renderable)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def duration(start: datetime, end: datetime | None, now: datetime) -> str:
    """``12.3s``, ``4m05s``, ``2h03m`` or ``3d04h`` from ``start`` to ``end`` (or now)."""
    seconds = max(((end or now) - start) / timedelta(seconds=1), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """The values as Unicode blocks (``▁`` lowest, ``█`` highest), averaged into at most
    ``width`` buckets."""
    if not values:
        return ""
    if len(values) > width:
        size = len(values) / width
        values = [_mean(values[int(i * size):int((i + 1) * size)]) for i in range(width)]
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    top = len(BLOCKS) - 1
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append(BLOCKS[top] if v > 0 else BLOCKS[0])
        elif high == low:
            out.append(BLOCKS[top // 2])
        else:
            out.append(BLOCKS[round((v - low) / (high - low) * top)])
    return "".join(out)


def _mean(chunk: Sequence[float]) -> float:
    return math.fsum(chunk) / len(chunk)
