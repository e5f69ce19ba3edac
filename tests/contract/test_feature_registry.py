"""Feature definitions in the metadata database, on SQLite and on the real PostgreSQL:
plan/apply, versions by schema, old versions readable, watermarks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.features import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
    RequestSource,
    on_demand_feature_view,
)
from modelplane.features.registry import FeatureRegistry
from modelplane.store.db import Database

driver = Entity("driver", join_keys=["driver_id"])


def view(*fields: str, ttl: float = 3600, path: str = "/data/stats.parquet") -> FeatureView:
    return FeatureView("stats", entities=[driver], source=FileSource(path),
                       schema=[Field(f, Float64) for f in fields], ttl=ttl)


@on_demand_feature_view(sources=[view("a")[["a"]], RequestSource("r", [Field("x", Int64)])],
                        schema=[Field("ax", Float64)], mode="python")
def ax(inputs: dict) -> dict:
    return {"ax": [a * x for a, x in zip(inputs["a"], inputs["x"], strict=True)]}


@pytest.fixture
def registry(database_url: str) -> Iterator[FeatureRegistry]:
    db = Database(database_url)
    yield FeatureRegistry(db)
    db.dispose()


def _actions(plan: object) -> dict[str, tuple[str, int]]:
    return {c.name: (c.action, c.version) for c in plan.changes}  # type: ignore[attr-defined]


def test_plan_changes_nothing_and_apply_stores(registry: FeatureRegistry) -> None:
    service = FeatureService("svc", [view("a", "b"), "stats:a"])
    plan = registry.plan([view("a", "b"), service])
    assert _actions(plan) == {"driver": ("create", 0), "stats": ("create", 1),
                              "svc": ("create", 1)}
    assert registry.list_views() == []
    registry.apply([view("a", "b"), service])
    again = registry.plan([view("a", "b"), service])
    assert not again.has_changes
    stored = registry.get_view("stats")
    assert stored == view("a", "b") and stored.version == 1
    assert registry.get_service("svc").features == ("stats:a", "stats:b")
    assert registry.get_entity("driver") == driver


def test_schema_change_makes_a_version_and_old_ones_stay_readable(
        registry: FeatureRegistry) -> None:
    registry.apply([view("a", "b")])
    plan = registry.apply([view("a", "c")])
    change = next(c for c in plan.changes if c.name == "stats")
    assert (change.action, change.version) == ("new_version", 2)
    assert "+ field c (float64)" in change.details and "- field b" in change.details
    assert registry.get_view("stats").features == ("a", "c")
    assert registry.get_view("stats", 1).features == ("a", "b")
    assert [v["version"] for v in registry.versions("stats")] == [1, 2]
    assert [v.version for v in registry.list_views()] == [2]
    # a TTL or source change updates the newest version in place
    plan = registry.apply([view("a", "c", ttl=60, path="/data/other.parquet")])
    change = next(c for c in plan.changes if c.name == "stats")
    assert (change.action, change.version) == ("update", 2)
    assert registry.get_view("stats").ttl_seconds == 60
    with pytest.raises(NotFoundError, match="version"):
        registry.get_view("stats", 9)


def test_on_demand_view_round_trip_runs_the_stored_function(registry: FeatureRegistry) -> None:
    registry.apply([view("a"), ax])
    stored = registry.get_view("ax")
    assert stored.kind == "on_demand_feature_view" and stored.inputs == ["stats:a"]
    assert stored.transform({"a": [2.0], "x": [3]}) == {"ax": [6.0]}
    assert not registry.plan([view("a"), ax]).has_changes


def test_unknown_names_list_close_ones(registry: FeatureRegistry) -> None:
    registry.apply([view("a")])
    with pytest.raises(NotFoundError, match="did you mean 'stats'"):
        registry.get_view("stat")
    with pytest.raises(NotFoundError, match="entity 'drivr' not found; did you mean"):
        registry.get_entity("drivr")


def test_conflicting_definitions_are_refused_whole(registry: FeatureRegistry) -> None:
    other = Entity("driver", join_keys=["id"])
    with pytest.raises(InvalidArgumentError,
                       match="two different definitions of the entity 'driver'"):
        registry.apply([view("a"), other])
    assert registry.list_entities() == []
    odfv_named_like_view = FeatureView("ax", entities=[driver], source="/x.parquet",
                                       schema=[Field("a", Float64)])
    registry.apply([view("a"), ax])
    with pytest.raises(InvalidArgumentError, match="already a on demand feature view"):
        registry.apply([odfv_named_like_view])


def test_watermark_only_moves_forward(registry: FeatureRegistry) -> None:
    registry.apply([view("a")])
    stored = registry.get_view("stats")
    assert isinstance(stored, FeatureView)
    t = datetime(2024, 5, 1, tzinfo=UTC)
    registry.record_materialization(stored, kind="materialize", start=None, end=t,
                                    num_rows=3, profile={"num_rows": 3}, watermark=t)
    registry.record_materialization(stored, kind="materialize", start=None, end=t,
                                    num_rows=1, profile=None,
                                    watermark=t - timedelta(days=1))
    assert registry.watermark("stats", 1) == t
    runs = registry.materializations("stats", 1)
    assert [r["num_rows"] for r in runs] == [1, 3]


def test_dataframe_source_is_stored_by_digest(registry: FeatureRegistry) -> None:
    frame = pd.DataFrame({"driver_id": [1], "event_timestamp": [pd.Timestamp.now(tz="UTC")],
                          "a": [1.0]})
    v = FeatureView("frame_view", entities=[driver], source=frame, schema=[Field("a", Float64)])
    registry.apply([v])
    assert registry.get_view("frame_view").source.spec() == v.source.spec()


def test_prune_removes_what_the_repo_no_longer_declares(registry: FeatureRegistry) -> None:
    other = FeatureView("other", entities=[Entity("rider")], source=FileSource("/o.parquet"),
                        schema=[Field("x", Float64)])
    registry.apply([view("a", "b"), other, FeatureService("svc", [other])], project="repo")
    registry.apply([view("a", "c")], project="repo")  # stats v2; other, rider, svc live
    assert not registry.plan([view("a", "c")], project="repo").has_changes  # no prune asked
    plan = registry.plan([view("a", "c")], prune=True, project="repo")
    assert [(c.kind, c.name, c.action, c.version) for c in plan.changes if
            c.action == "remove"] == [("service", "svc", "remove", 1),
                                      ("view", "other", "remove", 1),
                                      ("entity", "rider", "remove", 0)]
    assert plan.has_changes and registry.list_views()[0].name == "other"  # plan wrote nothing
    registry.apply([view("a", "c")], prune=True, project="repo")
    assert [v.name for v in registry.list_views()] == ["stats"]
    assert registry.list_services() == []
    assert [e.name for e in registry.list_entities()] == ["driver"]
    with pytest.raises(NotFoundError, match=r"'other' was removed .* 'other@1:FEATURE'"):
        registry.get_view("other")
    with pytest.raises(NotFoundError, match="entity 'rider' was removed"):
        registry.get_entity("rider")
    with pytest.raises(NotFoundError, match="feature service 'svc' was removed"):
        registry.get_service("svc")
    # every version stays readable by number, for lineage and pinned references
    assert registry.get_view("other", 1).features == ("x",)
    assert registry.get_service("svc", 1).features == ("other:x",)
    assert registry.versions("other")[0]["removed_at"] is not None
    with pytest.raises(NotFoundError, match="did you mean 'stats'") as err:
        registry.get_view("stat")
    assert "other" not in str(err.value)
    assert not registry.plan([view("a", "c")], prune=True, project="repo").has_changes


def test_prune_only_touches_its_own_project(registry: FeatureRegistry) -> None:
    rider = Entity("rider")
    theirs = FeatureView("theirs", entities=[rider, driver], source=FileSource("/t.parquet"),
                         schema=[Field("y", Float64)])
    registry.apply([theirs])  # no project: a Python apply of objects
    registry.apply([theirs[["y"]].view, view("a")], project="other-team")
    registry.apply([view("a"), FeatureService("svc", ["stats:a"])], project="repo")
    # stats moved to "repo" (a visible update); theirs and rider stay with "other-team"
    plan = registry.plan([view("a")], prune=True, project="repo")
    assert [(c.name, c.action) for c in plan.changes if c.action != "unchanged"] == [
        ("svc", "remove")]
    moved = registry.plan([view("a")], project="other-team")
    assert [(c.name, c.action, c.details) for c in moved.changes if c.name == "stats"] == [
        ("stats", "update", ["~ project: repo -> other-team"])]
    # other-team prunes: its view and the entity only that view used go; repo's svc stays
    registry.apply([view("a")], prune=True, project="other-team")
    assert [v.name for v in registry.list_views()] == ["stats"]
    assert [e.name for e in registry.list_entities()] == ["driver"]
    assert registry.get_service("svc").features == ("stats:a",)
    with pytest.raises(InvalidArgumentError, match="give the project"):
        registry.apply([view("a")], prune=True)


def test_a_removed_name_declared_again_is_restored_or_versioned(
        registry: FeatureRegistry) -> None:
    other = FeatureView("other", entities=[driver], source=FileSource("/o.parquet"),
                        schema=[Field("x", Float64)], ttl=60)
    registry.apply([view("a"), other], project="repo")
    registry.apply([view("a")], prune=True, project="repo")
    back = registry.apply([view("a"), other], project="repo")
    assert _actions(back)["other"] == ("restore", 1)
    assert registry.get_view("other").version == 1
    assert registry.versions("other")[0]["removed_at"] is None
    registry.apply([view("a")], prune=True, project="repo")
    changed = FeatureView("other", entities=[driver], source=FileSource("/o.parquet"),
                          schema=[Field("x", Float64), Field("y", Float64)])
    again = registry.apply([view("a"), changed], project="repo")
    assert _actions(again)["other"] == ("new_version", 2)
    assert [v["removed_at"] for v in registry.versions("other")] == [None, None]
    assert registry.get_view("other").features == ("x", "y")


def test_prune_refuses_to_strand_a_service_or_on_demand_view(
        registry: FeatureRegistry) -> None:
    registry.apply([view("a"), ax], project="repo")
    with pytest.raises(InvalidArgumentError, match=r"'svc' uses 'stats:a'.*remove it"):
        registry.apply([FeatureService("svc", ["stats:a"])], prune=True, project="repo")
    with pytest.raises(InvalidArgumentError, match="on demand feature view 'ax' uses"):
        registry.apply([ax], prune=True, project="repo")
    assert [v.name for v in registry.list_views()] == ["ax", "stats"]  # nothing written
    pinned = FeatureService("svc", ["stats@1:a"])
    registry.apply([pinned], prune=True, project="repo")  # a pinned version stays readable
    assert [v.name for v in registry.list_views()] == []
    assert registry.get_service("svc").features == ("stats@1:a",)
