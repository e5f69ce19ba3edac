"""Helpers shared by the benchmarks: timing, rows and the table printer.

Each benchmark module exposes ``main(quick: bool = False) -> list[Row]`` and can run on
its own (``python benchmarks/NAME.py``). Figures are medians, and every comparison is a
ratio taken in the same run, because this kind of machine is shared and noisy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, TypedDict


class Row(TypedDict, total=False):
    benchmark: str
    metric: str
    value: float
    unit: str
    target: str
    ok: bool | None
    note: str


def row(
    benchmark: str,
    metric: str,
    value: float,
    unit: str,
    *,
    target: str = "",
    ok: bool | None = None,
    note: str = "",
) -> Row:
    return Row(
        benchmark=benchmark, metric=metric, value=value, unit=unit, target=target, ok=ok, note=note
    )


def median_seconds(fn: Callable[[], Any], *, repeat: int = 200, warmup: int = 10) -> float:
    """Median wall time of one ``fn()`` call, in seconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def print_table(rows: list[Row], title: str = "modelplane benchmarks") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for name in ("benchmark", "metric", "value", "unit", "target", "ok", "note"):
        table.add_column(name, justify="right" if name == "value" else "left")
    for r in rows:
        ok = r.get("ok")
        mark = "" if ok is None else ("[green]yes[/]" if ok else "[red]no[/]")
        value = r.get("value", 0.0)
        text = f"{value:,.4g}" if isinstance(value, float) else str(value)
        table.add_row(
            r.get("benchmark", ""),
            r.get("metric", ""),
            text,
            r.get("unit", ""),
            r.get("target", ""),
            mark,
            r.get("note", ""),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
