"""Run search at scale, on SQLite and the real PostgreSQL: pages continue by keyset and
add up to the whole ordered result, and no query shape scans a table (``EXPLAIN``).

The runs are bulk-seeded (:mod:`benchmarks.scale_seed`), as the scale benchmark does."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks.scale_seed import seed_runs

from modelplane.artifacts.store import ArtifactStore
from modelplane.core.errors import InvalidArgumentError
from modelplane.core.filters import parse_filter, parse_order_by
from modelplane.store.db import Database
from modelplane.tracking.entities import Run
from modelplane.tracking.search import RUN_FILTER_SCHEMA
from modelplane.tracking.service import TrackingService
from modelplane.tracking.sql import SqlTrackingStore

RUNS = 3000


@pytest.fixture
def tracking(database_url: str, tmp_path: Path) -> Iterator[TrackingService]:
    db = Database(database_url)
    service = TrackingService(SqlTrackingStore(db), ArtifactStore(tmp_path / "artifacts"))
    exp = service.create_experiment("scale")
    seed_runs(db, exp.id, RUNS)
    # runs the seed does not make: no metrics at all, a NaN metric, a run elsewhere
    service.start_run("scale", name="bare", params={"p2": "zzz"})
    nan = service.start_run("scale", name="nan")
    service.log_metrics(nan.id, {"m3": math.nan, "m1": 0.01})
    service.start_run("other", name="elsewhere", params={"p1": "8"})
    yield service
    db.dispose()


def _all_pages(tracking: TrackingService, size: int, **search: Any) -> list[Run]:
    found: list[Run] = []
    token = None
    while True:
        page = tracking.search_runs(experiments=["scale"], max_results=size, page_token=token,
                                    **search)
        found += page.runs
        token = page.next_page_token
        if token is None:
            return found
        assert len(page.runs) == size


def _expected(runs: list[Run], where: Any, key: Any, descending: bool) -> list[str]:
    chosen = [r for r in runs if where(r)]
    newest = sorted(chosen, key=lambda r: (-r.start_time.timestamp(), r.id))
    if key is None:
        return [r.id for r in newest]
    having = [r for r in newest if key(r) is not None]
    having.sort(key=key, reverse=descending)  # stable: ties stay newest first
    return [r.id for r in having] + [r.id for r in newest if key(r) is None]


def _metric(name: str) -> Any:
    def value(run: Run) -> float | None:
        got = run.metrics.get(name)
        return None if got is None or math.isnan(got) else got
    return value


CASES = [
    ("", "", lambda r: True, None, False),
    ("", "metrics.m3 desc", lambda r: True, _metric("m3"), True),
    ("", "metrics.m3", lambda r: True, _metric("m3"), False),
    ("", "params.p2", lambda r: True, lambda r: r.params.get("p2"), False),
    ("", "tags.team desc", lambda r: True, lambda r: r.tags.get("team"), True),
    ("", "name", lambda r: True, lambda r: r.name, False),
    ("", "end_time desc", lambda r: True, lambda r: r.end_time, True),
    ("metrics.m1 < 0.2", "metrics.m3 desc", lambda r: (_metric("m1")(r) or 1) < 0.2,
     _metric("m3"), True),
    ("metrics.m0 > 0.5 and params.p1 = '8'", "",
     lambda r: (_metric("m0")(r) or 0) > 0.5 and r.params.get("p1") == "8", None, False),
    ("params.p1 = '8' and params.p0 = '0.1'", "metrics.m2 desc",
     lambda r: r.params.get("p1") == "8" and r.params.get("p0") == "0.1", _metric("m2"), True),
]


def test_pages_add_up_to_the_ordered_result(tracking: TrackingService) -> None:
    everything = _all_pages(tracking, 1000)
    assert len(everything) == RUNS + 2 and len({r.id for r in everything}) == RUNS + 2
    for filter_, order_by, where, key, descending in CASES:
        paged = _all_pages(tracking, 97, filter=filter_, order_by=order_by)
        assert [r.id for r in paged] == _expected(everything, where, key, descending), \
            (filter_, order_by)


def test_orderings_on_several_fields_page_by_offset(tracking: TrackingService) -> None:
    order = "params.p0 desc, metrics.m1"
    one = tracking.search_runs(experiments=["scale"], order_by=order, max_results=RUNS + 2).runs
    paged = _all_pages(tracking, 400, order_by=order)
    assert [r.id for r in paged] == [r.id for r in one]
    assert [r.params["p0"] for r in one[:3]] == ["1.0"] * 3


def test_a_bad_page_token_is_an_invalid_argument(tracking: TrackingService) -> None:
    for token in ("nope", "e30=", "eyJzIjotMX0=", "eyJzIjowLCJhIjpbMV19"):
        with pytest.raises(InvalidArgumentError, match="page_token"):
            tracking.search_runs(experiments=["scale"], order_by="metrics.m3",
                                 page_token=token, max_results=5)


SCANNED = ("runs", "params", "run_tags", "latest_metrics")


def _plan(tracking: TrackingService, sql: str, args: Any) -> list[str]:
    """Tables the plan reads in full (SQLite's ``SCAN t``, PostgreSQL's ``Seq Scan``
    with sequential scans priced out, so that one appears only when nothing else can
    answer)."""
    db = tracking.store.db
    with db.connection_scope() as conn:
        if db.dialect == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, args).fetchall()
            return [d for *_, d in rows if d.startswith("SCAN ") and d.split()[1] in SCANNED]
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, args).scalar_one()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in SCANNED:
            found.append(f"Seq Scan {node['Relation Name']}")
        for child in node.get("Plans", ()):
            walk(child)
    walk(plan[0]["Plan"])
    return found


def test_no_search_shape_scans_a_table(tracking: TrackingService) -> None:
    exp = tracking.get_experiment("scale").id
    last = tracking.search_runs(experiments=["scale"], max_results=1).runs[0]
    with_metrics = tracking.search_runs("name like 'run-%'", experiments=["scale"],
                                        max_results=1).runs[0]
    searcher = tracking.store._searcher
    for filter_, order_by, *_ in CASES:
        where = parse_filter(filter_, RUN_FILTER_SCHEMA)
        order = parse_order_by(order_by, RUN_FILTER_SCHEMA)
        after = with_metrics if order_by else last
        for sql, args in searcher.statements([exp], where, order, False, after):
            assert _plan(tracking, sql, args) == [], (filter_, order_by, sql)


def test_a_long_history_reads_in_buckets_and_pages(tracking: TrackingService) -> None:
    run = tracking.start_run("scale", name="long")
    n = 20_000
    tracking.log_batch(run.id, [("loss", (i % 1000) / 1000, i) for i in range(n)])
    tracking.log_metrics(run.id, {"loss": math.nan}, step=n)  # a NaN point is kept
    series = tracking.metric_series(run.id, "loss", 100)
    assert series.count == n + 1 and series.bucketed
    assert len(series.points) <= 101
    # buckets of 201 steps: min and max of each, wherever in the bucket they were logged
    assert series.points[0] == (0, 0.0, 0.2)
    assert series.points[4] == (804, 0.0, 0.999)  # steps 804..1004 wrap the cycle
    assert [s for s, _, _ in series.points] == sorted(s for s, _, _ in series.points)
    short = tracking.metric_series(run.id, "loss", n + 1)
    assert not short.bucketed and len(short.points) == n + 1
    assert short.points[5] == (5, 0.005, 0.005) and math.isnan(short.points[-1][1])
    # the full history, page by page, is every point once in step order
    steps, start = [], 0
    while True:
        page = tracking.metric_page(run.id, "loss", from_step=start, limit=3000)
        steps += [m.step for m in page]
        if len(page) < 3000:
            break
        start = page[-1].step + 1
    assert steps == list(range(n + 1))
    with pytest.raises(InvalidArgumentError, match="max_points"):
        tracking.metric_series(run.id, "loss", 1)
