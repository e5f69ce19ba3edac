"""The UI's SVG charts: what a reader sees of awkward metric curves."""

from __future__ import annotations

import math
import re

from modelplane.server.ui.charts import MAX_POINTS, Bar, Series, bar_chart, line_chart, nice_ticks


def _points(svg: str) -> list[tuple[float, float]]:
    found = re.search(r'points="([^"]*)"', svg)
    assert found is not None
    return [(float(x), float(y)) for x, y in (p.split(",") for p in found.group(1).split())]


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0.0, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(0.3, 0.9) == [0.4, 0.6, 0.8]
    assert nice_ticks(5.0, 5.0) == [5.0]


def test_non_finite_values_are_left_out_and_counted() -> None:
    svg = line_chart([Series("r", [(0, 1.0), (1, math.nan), (2, math.inf), (3, 0.5)])],
                     title="loss")
    assert len(_points(svg)) == 2
    assert svg.count("<circle") == 2
    assert "2 non-finite values (NaN or infinite) not drawn" in svg


def test_a_curve_of_only_nan_says_so() -> None:
    svg = line_chart([Series("r", [(0, math.nan)])], title="loss")
    assert "loss: no finite values" in svg and "<polyline" not in svg


def test_a_long_curve_is_thinned_but_keeps_its_spike() -> None:
    values = [(step, 1.0) for step in range(100_000)]
    values[54_321] = (54_321, 50.0)
    svg = line_chart([Series("r", values)], title="loss")
    drawn = _points(svg)
    assert len(drawn) <= MAX_POINTS
    assert min(y for _, y in drawn) == min(y for _, y in _points(
        line_chart([Series("r", [(0, 1.0), (1, 50.0)])], title="loss")))  # the spike's top
    assert "<circle" not in svg  # no markers on a long curve
    assert 'data-count="100000"' in svg


def test_labels_are_escaped() -> None:
    svg = line_chart([Series("<script>", [(0, 1.0)])], title='a"b')
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    bars = bar_chart([Bar("<b>", 0.5, flagged=True, threshold=0.1)])
    assert "<b>" not in bars and "drifted" in bars
