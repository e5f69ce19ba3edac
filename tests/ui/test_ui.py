"""What a person sees in the web UI, clicked through in headless Chromium."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import _in_ci
from tests.ui import seed
from tests.ui.conftest import UIServer

try:
    from playwright.sync_api import expect
except ImportError:
    if _in_ci():
        raise
    pytest.skip("browser tests need the playwright package (pip install -e '.[dev]')",
                allow_module_level=True)

pytestmark = pytest.mark.browser


def _rows(page: Any, table: str) -> list[str]:
    return page.locator(f"{table} tbody tr").all_inner_texts()


def _open_experiment(page: Any) -> None:
    page.goto("/")
    page.get_by_role("navigation").get_by_role("link", name="Experiments").click()
    page.get_by_role("link", name=seed.EXPERIMENT, exact=True).click()
    expect(page.locator("h1")).to_have_text(seed.EXPERIMENT)


def test_nav_bar_reaches_every_section(page: Any) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("a.card[data-count=experiments] .count")).to_have_text("1")
    expect(page.locator("a.card[data-count=deployments] .count")).to_have_text("3")
    expect(page.locator("table.grid tbody tr")).to_have_count(3)  # the newest runs
    for label, heading in (("Experiments", "Experiments"), ("Models", "Models"),
                           ("Deployments", "Deployments"), ("Monitoring", "Monitoring"),
                           ("Features", "Features"), ("Pipelines", "Pipeline runs")):
        page.get_by_role("navigation").get_by_role("link", name=label, exact=True).click()
        expect(page.locator("h1")).to_have_text(heading)
        expect(page.locator("nav a.active")).to_have_text(label)


def test_runs_filter_sort_and_a_bad_filter_shown_inline(page: Any) -> None:
    _open_experiment(page)
    expect(page.locator("#runs tbody tr")).to_have_count(3)

    page.fill("#filter", "metrics.auc > 0.9 and params.C = '1.0'")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#runs tbody tr")).to_contain_text("lr-C1")

    page.fill("#filter", "metrics.auc >> 3")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Search").click()
    assert nav.value.status == 200  # the page answers; the error is shown in it
    error = page.locator(".input-error[data-field=filter]")
    expect(error).to_contain_text("position 13")
    expect(error.locator("mark")).to_have_text(">")
    expect(page.locator("#filter")).to_have_value("metrics.auc >> 3")  # kept to fix it
    expect(page.locator("#runs")).to_have_count(0)

    page.get_by_role("link", name="clear").click()
    page.locator("#runs thead").get_by_role("link", name="auc").click()  # highest first
    names = [r.split("\t")[1].strip() for r in _rows(page, "#runs")]
    assert names == ["lr-C1", "lr-C0.1", "broken"]  # no auc: last either way
    page.locator("#runs thead").get_by_role("link", name="auc").click()  # then lowest
    names = [r.split("\t")[1].strip() for r in _rows(page, "#runs")]
    assert names == ["lr-C0.1", "lr-C1", "broken"]
    expect(page.locator("#order_by")).to_have_value("metrics.auc asc")


def test_runs_pages_forward_and_back(page: Any, ui_server: UIServer) -> None:
    _open_experiment(page)
    page.goto(page.url + "?order_by=name&per_page=2")
    first = _rows(page, "#runs")
    assert len(first) == 2
    page.get_by_role("link", name="next page").click()
    assert [r.split("\t")[1].strip() for r in _rows(page, "#runs")] == ["lr-C1"]
    expect(page.get_by_role("link", name="next page")).to_have_count(0)
    page.get_by_role("link", name="previous page").click()
    assert _rows(page, "#runs") == first
    expect(page.locator("#per_page")).to_have_value("2")  # a new search keeps the page size


def test_run_page_shows_facts_and_a_chart_per_metric(page: Any, ui_server: UIServer) -> None:
    _open_experiment(page)
    page.get_by_role("link", name="lr-C1", exact=True).click()
    expect(page.locator("h1")).to_contain_text("lr-C1")
    expect(page.locator("h1 .badge")).to_have_text("finished")
    expect(page.locator("table.params")).to_contain_text("C")
    expect(page.locator("table.params")).to_contain_text("1.0")
    expect(page.locator("table.metrics")).to_contain_text("0.93")

    loss = page.locator("figure[data-metric=loss] svg g.series")
    expect(loss.locator("circle")).to_have_count(len(seed.LOSS_C1))
    points = loss.locator("polyline").get_attribute("points")
    assert len(points.split()) == len(seed.LOSS_C1)
    heights = [float(p.split(",")[1]) for p in points.split()]
    assert heights == sorted(heights)  # loss falls, so each point is lower (larger y)
    expect(page.locator("figure[data-metric=auc] circle")).to_have_count(1)

    dataset = page.locator("#datasets tbody tr")
    expect(dataset).to_contain_text("churn-train")
    expect(dataset).to_contain_text("train")
    expect(dataset).to_contain_text("500")
    artifact = page.locator("#artifacts tr[data-path='notes.txt']").get_by_role(
        "link", name="download")
    download = httpx.get(ui_server.url + artifact.get_attribute("href"))
    assert download.text == f"lr-C1: {seed.NOTES}\n"
    versions = page.locator("#run-versions tbody tr")
    expect(versions).to_have_count(2)  # v1 and v3 were registered from this run
    expect(versions.filter(has_text="production")).to_contain_text("@champion")


def test_compare_two_runs(page: Any) -> None:
    _open_experiment(page)
    button = page.locator("#compare-button")
    expect(button).to_be_disabled()  # nothing ticked yet
    for name in ("lr-C1", "lr-C0.1"):
        page.locator("#runs tbody tr", has_text=name).locator("input[type=checkbox]").check()
    expect(page.locator("#compare-count")).to_have_text("2 selected")
    button.click()
    expect(page.locator("h1")).to_have_text("Compare 2 runs")
    expect(page.locator("tr.param.differs[data-key=C]")).to_have_count(1)
    expect(page.locator("tr.param.differs[data-key=solver]")).to_have_count(0)

    chart = page.locator("figure[data-metric=loss] svg")
    expect(chart.locator("g.series")).to_have_count(2)
    expect(chart.locator("g.series[data-series=lr-C1] circle")).to_have_count(len(seed.LOSS_C1))
    expect(chart.locator("g.series[data-series='lr-C0.1'] circle")).to_have_count(
        len(seed.LOSS_C01))
    page.locator(".legend-item[data-series=lr-C1]").click()  # fade one run's curves
    expect(chart.locator("g.series[data-series=lr-C1]")).to_have_class(re.compile("dimmed"))


def test_model_page_shows_versions_stages_and_history(page: Any) -> None:
    page.goto("/models")
    row = page.locator("#models tbody tr[data-model=churn]")
    expect(row).to_contain_text("v1")  # production holder
    expect(row).to_contain_text("@champion → v1")
    row.get_by_role("link", name="churn").click()

    expect(page.locator("#versions tr[data-version='1'] td.stage .badge")
           ).to_have_text("production")
    expect(page.locator("#versions tr[data-version='1']")).to_contain_text("@champion")
    expect(page.locator("#versions tr[data-version='2'] td.stage .badge")).to_have_text("archived")
    expect(page.locator("#versions tr[data-version='3'] td.stage .badge")).to_have_text("staging")
    rollback = page.locator("#history tr[data-action=rollback]")
    expect(rollback).to_contain_text("auc dropped")
    expect(rollback).to_contain_text("archived → production")
    expect(page.locator("#history tr[data-action=alias]")).to_contain_text("@champion")
    page.locator("#versions tr[data-version='2']").get_by_role("link", name="lr-C0.1").click()
    expect(page.locator("h1")).to_contain_text("lr-C0.1")


def test_monitoring_shows_health_drift_bars_and_alerts(page: Any) -> None:
    page.goto("/monitoring")
    row = page.locator("#monitored tr[data-model=churn]")
    expect(row).to_contain_text(str(seed.ROWS))
    row.get_by_role("link", name="churn").click()

    expect(page.locator("[data-stat=requests] .count")).to_have_text(str(seed.ROWS))
    expect(page.locator("[data-stat=error_rate] .count")).to_have_text("0.0%")
    expect(page.locator("[data-stat=p99] .count")).to_contain_text("ms")
    bars = page.locator("#drift-bars g.bar")
    expect(bars).to_have_count(len(seed.FEATURES))
    expect(page.locator("#drift-bars g.bar.drifted")).to_have_count(1)
    expect(page.locator("#drift-bars g.bar.drifted")).to_have_attribute("data-label", "x1")
    expect(page.locator("#histogram")).to_have_attribute("data-feature", "x1")
    expect(page.locator("#histogram svg rect").first).to_be_attached()

    recent = page.locator("#recent tbody tr")  # the prediction log, newest first
    expect(recent).to_have_count(20)
    expect(recent.first).to_contain_text('"prediction"')
    expect(recent.first).to_contain_text('"x1"')

    page.locator("#drift-bars g.bar[data-label=x2] rect").click()
    expect(page.locator("#histogram")).to_have_attribute("data-feature", "x2")
    expect(page.locator("#alerts tr[data-rule=x1-drift]")).to_contain_text("drift_share > 0.2")

    page.fill("#window", "soon")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".input-error[data-field=window]")).to_contain_text("cannot parse 'soon'")


def test_deployments_show_traffic_variants_and_canary(page: Any) -> None:
    page.goto("/deployments")
    segments = page.locator("tr[data-deployment=churn-live] .traffic .seg")
    expect(segments).to_have_count(2)
    production = segments.nth(0).bounding_box()["width"]
    staging = segments.nth(1).bounding_box()["width"]
    assert production / staging == pytest.approx(80 / 20, rel=0.05)
    page.get_by_role("link", name=seed.DEPLOYMENT).click()

    expect(page.locator("#variants tr[data-variant=production]")).to_contain_text("v1")
    expect(page.locator("#variants tr[data-variant=staging]")).to_contain_text("v3")
    expect(page.locator("#events tr[data-kind=created]")).to_have_count(1)
    expect(page.locator("#canary")).to_have_count(0)

    page.goto(f"/deployments/{seed.CANARY}")
    canary = page.locator("#canary")
    expect(canary).to_have_attribute("data-status", "running")
    expect(canary.locator("ol.steps li.current")).to_have_text("10%")
    expect(canary).to_contain_text("error_rate:max=0.05")
    expect(page.locator("#events tr[data-kind=canary_started]")).to_have_count(1)


def test_features_and_pipeline_runs(page: Any) -> None:
    page.goto("/features")
    page.get_by_role("link", name="customer_stats").click()
    expect(page.locator("#view-features")).to_contain_text("spend_30d")
    page.get_by_role("link", name="churn_features").click()
    expect(page.locator("#service-features")).to_contain_text("visits_30d")

    page.goto("/pipelines")
    expect(page.locator("#pipeline-runs tbody tr")).to_have_count(2)
    page.locator("#pipeline-runs tr[data-status=failed]").get_by_role("link").first.click()
    steps = page.locator("#steps tbody tr")
    assert [s.get_attribute("data-step") for s in steps.all()] == ["load", "score", "report"]
    assert [s.get_attribute("data-status") for s in steps.all()] == [
        "cached", "failed", "skipped"]
    expect(page.locator("#steps tr[data-step=score]")).to_contain_text("told to fail")


def test_feature_view_lists_its_materializations(page: Any) -> None:
    page.goto("/features/views/customer_stats")
    rows = page.locator("#materializations tbody tr")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td").all_inner_texts()
    assert all(c.strip() for c in cells), cells  # every column read from the record
    assert cells[1] == "materialize" and cells[2].startswith("2023-12-01") and cells[4] == "3"


def _points(chart: Any, series: str) -> list[float]:
    """The values of a time chart's series, read from its markers' tooltips."""
    titles = chart.locator(f"g.series[data-series='{series}'] circle title")
    return [float(t.rsplit(": ", 1)[1].split()[0].replace(",", "").rstrip("%"))
            for t in titles.all_text_contents()]


def test_monitoring_charts_requests_errors_and_latency_over_time(page: Any) -> None:
    page.goto(f"/models/{seed.MODEL}/monitoring?window=1h")
    requests = page.locator("#activity figure[data-chart=requests] svg")
    assert sum(_points(requests, "all versions")) == seed.ROWS
    errors = page.locator("#activity figure[data-chart=error_rate] svg")
    assert set(_points(errors, "all versions")) == {0.0}
    latency = page.locator("#activity figure[data-chart=latency]")
    assert _points(latency, "p99") and all(v > 0 for v in _points(latency, "p99"))
    expect(latency.locator(".legend-key")).to_have_text(["p50", "p99"])
    expect(requests.locator("text.x-tick").first).to_have_text(re.compile(r"^\d\d:\d\d$"))


def test_deployment_charts_requests_per_variant_over_time(page: Any) -> None:
    for _ in range(40):  # the replicas' figures reach the database within seconds
        page.goto(f"/deployments/{seed.DEPLOYMENT}?window=15m")
        chart = page.locator("#activity figure[data-chart=requests] svg")
        if chart.count() and sum(_points(chart, "production") + _points(chart, "staging")) \
                == seed.REQUESTS:
            break
        page.wait_for_timeout(500)
    else:
        raise AssertionError("the deployment's requests chart never added up to the requests")
    expect(page.locator("#activity figure[data-chart=latency] g.series")).to_have_count(2)
    page.goto(f"/deployments/{seed.DEPLOYMENT}?window=soon")
    expect(page.locator(".error-message")).to_contain_text("window")


def test_a_rolled_back_canary_takes_no_traffic(page: Any) -> None:
    page.goto(f"/deployments/{seed.ROLLED_BACK}")
    state = page.locator("#canary-state")
    expect(state).to_contain_text("rolled back at step 1 of 3")
    expect(state).to_contain_text("it takes no traffic now")
    expect(state).not_to_contain_text("now 10%")
    expect(page.locator("#canary ol.steps li.failed")).to_have_text("10%")
    page.goto(f"/deployments/{seed.CANARY}")
    expect(page.locator("#canary-state")).to_contain_text("now 10% of all traffic")


def test_drift_chart_fits_long_names_and_the_histogram_has_axes(page: Any) -> None:
    page.goto(f"/models/{seed.MODEL}/monitoring")
    label = page.locator(f"#drift-bars g.bar[data-label='{seed.LONG}'] text.bar-label")
    expect(label.locator("title")).to_have_text(seed.LONG)
    box = label.evaluate("t => t.getBBox().x")
    assert box >= 0, f"the label starts {box}px left of the chart"  # nothing cut off
    assert label.evaluate("t => t.lastChild.textContent").endswith("days_x3")
    histogram = page.locator("#histogram svg")
    ticks = histogram.locator("g.y-axis text").all_text_contents()
    assert ticks[0] == "0%" and len(ticks) >= 3 and "share of rows" in ticks
    bins = histogram.locator("text.bin-label")
    assert bins.count() == histogram.locator("rect").count() // 2 >= 5
    assert all(t.strip() for t in bins.all_text_contents())


def test_run_artifact_browser_with_the_logged_model(page: Any, ui_server: UIServer) -> None:
    page.goto(f"/runs/{ui_server.ids['lr-C1']}")
    listed = page.locator("#artifacts tbody tr")
    assert [r.get_attribute("data-path") for r in listed.all()] == [
        "models", "plots", "notes.txt"]
    page.locator("#artifacts tr[data-path=models]").get_by_role("link").click()
    for folder in ("churn", "1", "model"):
        page.locator("#artifacts tr.folder").filter(has_text=f"{folder}/").get_by_role(
            "link").first.click()
    expect(page.locator("#artifact-folder")).to_have_text("models/churn/1/model")
    page.locator("#artifacts tr.file").filter(has_text="modelplane.json").get_by_role(
        "link", name="modelplane.json").click()
    expect(page.locator("#preview-text")).to_contain_text('"flavor": "python"')
    download = httpx.get(ui_server.url + page.locator("#download").get_attribute("href"))
    assert download.status_code == 200 and b'"flavor"' in download.content
    assert download.headers["content-disposition"].startswith("attachment")

    page.goto(f"/runs/{ui_server.ids['lr-C1']}/artifacts?path=plots")
    page.get_by_role("link", name="curve.png").click()
    image = page.locator("#preview-image")
    expect(image).to_be_visible()
    assert image.evaluate("i => i.naturalWidth") == 2  # decoded: the PNG itself
    page.goto(f"/runs/{ui_server.ids['lr-C1']}/artifacts/view?path=notes.txt")
    expect(page.locator("#preview-text")).to_have_text(f"lr-C1: {seed.NOTES}\n")
    missing = page.goto(f"/runs/{ui_server.ids['lr-C1']}/artifacts/view?path=nope.txt")
    assert missing is not None and missing.status == 404


@pytest.mark.parametrize(("path", "message"), [
    ("/runs/no-such-run", "run 'no-such-run' not found"),
    ("/models/no-such-model", "registered model 'no-such-model' not found"),
    ("/deployments/no-such-deployment", "deployment 'no-such-deployment' does not exist"),
    ("/pipelines/runs/no-such-run", "pipeline run 'no-such-run' not found"),
    ("/no/such/page", "no page at /no/such/page"),
])
def test_unknown_objects_get_a_404_page_naming_them(page: Any, path: str,
                                                    message: str) -> None:
    response = page.goto(path)
    assert response.status == 404
    expect(page.locator(".error-message")).to_contain_text(message)
    expect(page.get_by_role("navigation").get_by_role("link", name="Models")).to_be_visible()


def test_api_paths_keep_json_errors(ui_server: UIServer) -> None:
    response = httpx.get(f"{ui_server.url}/api/v1/no-such-thing",
                         headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", [
    "/experiments/churn?filter=(((((", "/experiments/churn?filter=params.C%20%3D%20%271.0%27%20or",
    "/experiments/churn?order_by=metrics.auc%20sideways", "/experiments/churn?page_token=zz",
    "/experiments/churn?per_page=0", "/experiments/churn?per_page=many",
    "/models?filter=%3C%3E", "/models?page_token=zz", "/models/churn?page_token=zz",
    "/models/churn/monitoring?window=99999999999d", "/models/churn/monitoring?window=..",
    "/models/churn/monitoring?version=99999999999999999999",
    "/models/churn/monitoring?feature=%3Cscript%3E", "/monitoring?window=yesterday",
    "/compare?run=a", "/experiments?deleted=maybe",
])
def test_bad_input_is_answered_never_a_500(ui_server: UIServer, path: str) -> None:
    response = httpx.get(ui_server.url + path, headers={"accept": "text/html"})
    assert response.status_code in (200, 404, 422), response.text[:300]
    assert "<nav" in response.text and "Traceback" not in response.text
    assert "<script>" not in response.text.split("</nav>", 1)[1]  # shown, never run
