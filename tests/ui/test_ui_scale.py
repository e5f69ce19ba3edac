"""The runs pages at a few thousand runs, in headless Chromium: page through, sort by a
metric and a param, filter, compare 50 runs, and a 50,000-point history drawn as
buckets. The runs are bulk-seeded (:mod:`benchmarks.scale_seed`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from benchmarks.scale_seed import metric_value, param_value, seed_runs

from tests.conftest import _in_ci
from tests.integration.conftest import spawn_server, stop_server, wait_healthy
from tests.ui.conftest import _server_env

try:
    from playwright.sync_api import expect
except ImportError:
    if _in_ci():
        raise
    pytest.skip("browser tests need the playwright package (pip install -e '.[dev]')",
                allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUNS = 3000
POINTS = 50_000


@pytest.fixture(scope="module")
def scale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.store.db import Database
    from modelplane.tracking.service import TrackingService
    from modelplane.tracking.sql import SqlTrackingStore

    home = tmp_path_factory.mktemp("ui-scale") / "mphome"
    home.mkdir()
    db = Database(f"sqlite:///{home}/modelplane.db")
    tracking = TrackingService(SqlTrackingStore(db), ArtifactStore(home / "artifacts"))
    exp = tracking.create_experiment("scale")
    seed_runs(db, exp.id, RUNS)
    long = tracking.start_run("long-history", name="long")
    tracking.log_batch(long.id, [("loss", 1 / (1 + s), s) for s in range(POINTS)])
    db.dispose()
    server = spawn_server(env=_server_env(home), wait=False)
    try:
        wait_healthy(server)
        yield {"url": server.url, "experiment": exp.id, "long": long.id}
    finally:
        stop_server(server)


@pytest.fixture
def tab(browser: Any, scale_server: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(base_url=scale_server["url"])
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.url}: {r.status}")
            if r.status >= 400 else None)
    yield page
    context.close()
    assert not errors, errors


def _ids(page: Any) -> list[str]:
    return page.locator("#runs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.run)")


def test_page_sort_and_filter_thousands_of_runs(tab: Any,
                                                scale_server: dict[str, Any]) -> None:
    tab.goto(f"/experiments/{scale_server['experiment']}")
    first = _ids(tab)
    assert len(first) == 50 and first[0] == f"{RUNS - 1:032x}"  # newest first
    tab.get_by_role("link", name="next page").click()
    second = _ids(tab)
    assert len(second) == 50 and not set(first) & set(second)
    assert second[0] == f"{RUNS - 51:032x}"

    tab.locator("th.metric a[title='metrics.m3']").click()  # sort by a metric, desc
    best = sorted(range(RUNS), key=lambda i: -metric_value(i, 3))
    assert _ids(tab)[:5] == [f"{i:032x}" for i in best[:5]]
    tab.get_by_role("link", name="next page").click()
    assert _ids(tab)[:3] == [f"{i:032x}" for i in best[50:53]]

    tab.locator("th.param a[title='params.p2']").click()  # then by a param, desc
    top = max(param_value(i, 2) for i in range(RUNS))
    assert tab.locator("#runs tbody tr").first.locator("td.param").nth(2).inner_text() == top

    tab.goto(f"/experiments/{scale_server['experiment']}")  # the sort would carry over
    tab.fill("#filter", "metrics.m0 > 0.5 and params.p1 = '8'")
    tab.press("#filter", "Enter")
    expected = [i for i in range(RUNS - 1, -1, -1)
                if metric_value(i, 0) > 0.5 and param_value(i, 1) == "8"]
    assert _ids(tab) == [f"{i:032x}" for i in expected[:50]]


def test_compare_fifty_runs_and_a_long_history(tab: Any,
                                               scale_server: dict[str, Any]) -> None:
    ids = [f"{i:032x}" for i in range(50)]
    tab.goto("/compare?" + "&".join(f"run={i}" for i in ids))
    expect(tab.locator("h1")).to_have_text("Compare 50 runs")
    expect(tab.locator("figure[data-metric=m0] svg g.series")).to_have_count(50)

    tab.goto(f"/runs/{scale_server['long']}")
    figure = tab.locator("figure[data-metric=loss]")
    expect(figure.locator("figcaption")).to_contain_text(f"{POINTS} points")
    lines = figure.locator("svg polyline").evaluate_all(
        "els => els.map(e => e.getAttribute('points'))")
    drawn = sum(len(points.split()) for points in lines) + figure.locator("svg circle").count()
    assert 0 < drawn < 5000  # buckets, not every point
