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


def test_long_bar_labels_widen_the_chart_then_keep_both_ends() -> None:
    from modelplane.server.ui.charts import MAX_LABEL_PX, Bar, bar_chart

    short = str(bar_chart([Bar("age", 0.1)]))
    name = "average_session_length_in_minutes_over_the_last_thirty_days_x3"
    wide = str(bar_chart([Bar("age", 0.1), Bar(name, 0.2)]))
    assert 'width="560"' in short and 'width="560"' not in wide
    shown = re.search(r"</title>([^<]+)</text>", wide.split(f'data-label="{name}"')[1])
    assert shown is not None and shown.group(1).endswith("days_x3") and "…" in shown.group(1)
    assert len(shown.group(1)) * 6.6 <= MAX_LABEL_PX
    assert f"<title>{name}</title>" in wide  # the full name on hover


def test_histogram_has_a_share_axis_and_every_bin_labelled() -> None:
    from modelplane.monitoring.report import svg_histogram

    labels = [f"[{i}, {i + 1})" for i in range(12)]
    svg = svg_histogram(labels, [1 / 12] * 12, [0.3, *[0.7 / 11] * 11], width=560)
    ticks = re.findall(r'text-anchor="end" fill="#5f6368">([^<]+)<', svg)
    assert ticks[0] == "0%" and ticks[-1] in ("30%", "40%") and len(ticks) >= 4
    assert re.findall(r'class="bin-label"[^>]*>([^<]+)<', svg) == labels


def test_time_charts_break_lines_where_nothing_was_measured() -> None:
    from modelplane.server.ui.timecharts import TimeSeries, time_chart, time_ticks

    assert time_ticks(0, 3600) == [0, 600, 1200, 1800, 2400, 3000, 3600]  # round minutes
    assert time_ticks(10, 7 * 86400)[:2] == [2 * 86400, 4 * 86400]  # whole days
    points = [(0.0, 1.0), (60.0, None), (120.0, 3.0), (180.0, 4.0)]
    svg = str(time_chart([TimeSeries("p99", points)], title="latency", fmt=str))
    assert svg.count("<polyline") == 2 and 'data-count="3"' in svg
    assert "p99 00:02 UTC: 3.0" in svg
    assert "no data" in str(time_chart([], title="latency"))
