"""Materialization, online reads (statuses, TTL), push, consistency and statistics on the
default SQLite online store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.features import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int64,
    RequestSource,
    String,
    Timestamp,
    on_demand_feature_view,
)
from tests.unit.features.conftest import driver_view

NOW = datetime.now(UTC).replace(microsecond=0)
FEATURES = ["driver_stats:conv_rate", "driver_stats:trips"]


def recent_frame(rng: np.random.Generator, entities: int = 30, per: int = 20) -> pd.DataFrame:
    """Rows over the last 3 hours (microsecond times) so some are fresh, some expired."""
    n = entities * per
    ts = pd.Timestamp(NOW) - pd.to_timedelta(rng.integers(0, 180 * 60 * 10**6, n), unit="us")
    return pd.DataFrame({"driver_id": np.repeat(np.arange(entities), per).astype("int64"),
                         "event_timestamp": ts, "created": ts,
                         "conv_rate": rng.standard_normal(n), "trips": rng.standard_normal(n)})


def latest(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["event_timestamp", "created"]).groupby("driver_id").tail(1) \
        .set_index("driver_id").sort_index()


def test_materialize_then_read_online_with_statuses(store: FeatureStore,
                                                    rng: np.random.Generator) -> None:
    frame = recent_frame(rng)
    store.apply([driver_view(frame, ttl=timedelta(hours=1))])
    results = store.materialize(NOW - timedelta(days=1), NOW, batch_size=7)
    assert [(r.view, r.rows) for r in results] == [("driver_stats", 30)]
    expected = latest(frame)
    ids = [0, 5, 999, 29]
    online = store.get_online_features(FEATURES, [{"driver_id": i} for i in ids])
    assert online.entities == {"driver_id": ids}
    for row, driver_id in enumerate(ids):
        status = online.statuses["conv_rate"][row]
        if driver_id == 999:
            assert status == "missing" and online.values["conv_rate"][row] is None
            continue
        want = expected.loc[driver_id]
        assert online.event_timestamps["trips"][row] == want["event_timestamp"].to_pydatetime()
        fresh = want["event_timestamp"] > pd.Timestamp(NOW) - pd.Timedelta(hours=1)
        assert status == ("present" if fresh else "expired")
        assert online.values["conv_rate"][row] == (want["conv_rate"] if fresh else None)
    frame_out = store.get_online_features(FEATURES, {"driver_id": ids}).to_pandas()
    assert list(frame_out.columns) == ["driver_id", "conv_rate", "trips"]
    stats = store.statistics("driver_stats")
    assert stats is not None and stats["num_rows"] == 30
    assert [c["name"] for c in stats["columns"]] == ["conv_rate", "trips"]
    report = store.validate_consistency("driver_stats", sample=100)
    assert report.ok and report.sampled == 30


def test_materialize_incremental_keeps_a_watermark(store: FeatureStore,
                                                   rng: np.random.Generator) -> None:
    frame = recent_frame(rng)
    store.apply([driver_view(frame, ttl=timedelta(hours=1))])
    first = store.materialize_incremental(NOW - timedelta(minutes=30))
    assert first[0].start == NOW - timedelta(minutes=90)  # first time: end - ttl
    second = store.materialize_incremental(NOW)
    assert second[0].start == NOW - timedelta(minutes=30)
    assert store.registry.watermark("driver_stats", 1) == NOW
    assert store.validate_consistency("driver_stats").stale == 0


def test_a_failed_batch_keeps_previous_values_and_the_watermark(
        store: FeatureStore, rng: np.random.Generator) -> None:
    frame = recent_frame(rng)
    store.apply([driver_view(frame, ttl=None)])
    old = frame.assign(event_timestamp=frame["event_timestamp"] - pd.Timedelta(days=1),
                       created=frame["created"] - pd.Timedelta(days=1), conv_rate=-1.0)
    store.push("driver_stats", old)
    real = store.online

    class Failing:
        url = real.url
        calls = 0

        def write(self, namespace: str, rows: list[Any]) -> int:
            Failing.calls += 1
            if Failing.calls == 2:
                raise OSError("disk full")
            return real.write(namespace, rows)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    store.__dict__["online"] = Failing()
    with pytest.raises(OSError, match="disk full"):
        store.materialize_incremental(NOW, batch_size=10)
    store.__dict__["online"] = real
    assert store.registry.watermark("driver_stats", 1) is None
    values = store.get_online_features(FEATURES, {"driver_id": list(range(30))})
    fresh = sum(v != -1.0 for v in values.values["conv_rate"])
    assert fresh == 10  # the first batch landed whole, the failed one left the old rows
    store.materialize_incremental(NOW, batch_size=10)  # a rerun finishes the job
    assert store.validate_consistency("driver_stats").ok


def test_push_writes_online_and_to_the_offline_log(store: FeatureStore,
                                                   rng: np.random.Generator) -> None:
    frame = recent_frame(rng)
    store.apply([driver_view(frame, ttl=None)])
    store.materialize(NOW - timedelta(days=1), NOW)
    t = pd.Timestamp(NOW) + pd.Timedelta(minutes=5)
    pushed = pd.DataFrame({"driver_id": [1, 1, 2], "event_timestamp": [t, t, t],
                           "created": [t, t + pd.Timedelta(seconds=1), t],
                           "conv_rate": [5.0, 6.0, 7.0], "trips": [1, 2, 3]})
    assert store.push("driver_stats", pushed) == 3
    online = store.get_online_features(FEATURES, {"driver_id": [1, 2]})
    assert online.values["conv_rate"] == [6.0, 7.0] and online.values["trips"] == [2.0, 3.0]
    entities = pd.DataFrame({"driver_id": [1, 2, 1],
                             "event_timestamp": [t, t, t - pd.Timedelta(seconds=1)]})
    offline = store.get_historical_features(entities, FEATURES).to_pandas()
    assert offline["conv_rate"].tolist()[:2] == [6.0, 7.0]
    assert offline["conv_rate"].iloc[2] == latest(frame).loc[1, "conv_rate"]
    assert store.validate_consistency("driver_stats").ok


def test_push_with_a_wrong_dtype_or_missing_column_writes_nothing(
        store: FeatureStore, rng: np.random.Generator) -> None:
    store.apply([driver_view(recent_frame(rng), ttl=None)])
    good = pd.DataFrame({"driver_id": [1], "event_timestamp": [pd.Timestamp(NOW)],
                         "conv_rate": [1.0], "trips": [2.0]})
    with pytest.raises(InvalidArgumentError, match="'conv_rate' is string, expected float64"
                       ) as exc:
        store.push("driver_stats", good.assign(conv_rate="high"))
    assert exc.value.details["field"] == "conv_rate"
    with pytest.raises(InvalidArgumentError, match="no column 'trips'"):
        store.push("driver_stats", good.drop(columns="trips"))
    with pytest.raises(InvalidArgumentError, match="'driver_id' is double, expected int64"):
        store.push("driver_stats", good.assign(driver_id=1.5))
    assert store.get_online_features(FEATURES, {"driver_id": [1]}).statuses["trips"] == [
        "missing"]
    assert not store.offline._log_glob(store._batch_view("driver_stats"))
    with pytest.raises(NotFoundError, match="did you mean 'driver_stats'"):
        store.push("driver_stat", good)


def test_online_bad_input_names_the_column(store: FeatureStore, rng: np.random.Generator
                                           ) -> None:
    store.apply([driver_view(recent_frame(rng))])
    with pytest.raises(InvalidArgumentError, match="join key 'driver_id'"):
        store.get_online_features(FEATURES, [{"driver": 1}])
    with pytest.raises(InvalidArgumentError, match="'driver_id': expected an integer"):
        store.get_online_features(FEATURES, [{"driver_id": "abc"}])
    with pytest.raises(NotFoundError, match="did you mean 'trips'"):
        store.get_online_features(["driver_stats:trip"], [{"driver_id": 1}])
    with pytest.raises(InvalidArgumentError, match="every column"):
        store.get_online_features(FEATURES, {"driver_id": [1, 2], "x": [1]})


def test_on_demand_view_and_service_online_equal_offline(store: FeatureStore,
                                                         rng: np.random.Generator) -> None:
    frame = recent_frame(rng)
    view = driver_view(frame, ttl=None)

    @on_demand_feature_view(sources=[view, RequestSource("req", [Field("km", Float64)])],
                            schema=[Field("per_km", Float64)], mode="python")
    def per_km(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"per_km": [None if t is None else t / k
                           for t, k in zip(inputs["trips"], inputs["km"], strict=True)]}

    service = FeatureService("ranker", [view[["trips"]], per_km])
    store.apply([service, view, per_km])
    store.materialize(NOW - timedelta(days=1), NOW)
    online = store.get_online_features(service="ranker", entity_rows={"driver_id": [3, 4],
                                                                       "km": [2.0, 4.0]})
    offline = store.get_historical_features(
        pd.DataFrame({"driver_id": [3, 4], "event_timestamp": [pd.Timestamp(NOW)] * 2,
                      "km": [2.0, 4.0]}), service="ranker").to_pandas()
    assert online.values["per_km"] == offline["per_km"].tolist()
    assert online.values["trips"] == offline["trips"].tolist()
    assert online.statuses["per_km"] == ["present", "present"]
    with pytest.raises(InvalidArgumentError, match="request field 'km'"):
        store.get_online_features(service="ranker", entity_rows={"driver_id": [3]})


def test_other_dtypes_and_string_keys_round_trip(store: FeatureStore) -> None:
    user = Entity("user", join_keys=["user_id"], dtype=String)
    t = pd.Timestamp(NOW)
    frame = pd.DataFrame({"user_id": ["ann", "bob"], "event_timestamp": [t, t],
                          "plan": ["pro", None], "seen": [t - pd.Timedelta(days=1), t],
                          "visits": [3, 4], "active": [True, False]})
    view = FeatureView("users", entities=[user], source=frame, schema=[
        Field("plan", String), Field("seen", Timestamp), Field("visits", Int64),
        Field("active", "bool")])
    store.apply([view])
    store.materialize(NOW - timedelta(days=1), NOW)
    refs = ["users:plan", "users:seen", "users:visits", "users:active"]
    online = store.get_online_features(refs, {"user_id": ["bob", "ann"]})
    assert online.values["plan"] == [None, "pro"]
    assert online.values["seen"] == [NOW, NOW - timedelta(days=1)]
    assert online.values["visits"] == [4, 3] and online.values["active"] == [False, True]
    assert store.validate_consistency("users").ok


def test_schema_change_starts_a_new_online_namespace(store: FeatureStore,
                                                     rng: np.random.Generator) -> None:
    frame = recent_frame(rng)
    store.apply([driver_view(frame, ttl=None)])
    store.materialize(NOW - timedelta(days=1), NOW)
    driver = Entity("driver", join_keys=["driver_id"])
    wider = FeatureView("driver_stats", entities=[driver], source=frame.assign(extra=1.0),
                        schema=[Field("conv_rate", Float64), Field("trips", Float64),
                                Field("extra", Float64)], created_timestamp_field="created")
    store.apply([wider])
    online = store.get_online_features(["driver_stats:extra"], {"driver_id": [1]})
    assert online.statuses["extra"] == ["missing"]  # v2 is not materialized yet
    old = store.get_online_features(["driver_stats@1:trips"], {"driver_id": [1]})
    assert old.statuses["trips"] == ["present"]  # v1's rows are still served
    store.materialize(NOW - timedelta(days=1), NOW)
    assert store.get_online_features(["driver_stats:extra"], {"driver_id": [1]}).values[
        "extra"] == [1.0]


@pytest.mark.redis
def test_the_same_flow_on_redis(redis_url: str, rng: np.random.Generator) -> None:
    from modelplane.features.lookup import namespace
    from modelplane.features.online import open_online_store

    sep = "&" if "?" in redis_url else "?"
    online = open_online_store(f"{redis_url}{sep}key_prefix=mptest-{uuid.uuid4().hex[:10]}:")
    store = FeatureStore(online_store=online)
    frame = recent_frame(rng)
    store.apply([driver_view(frame, ttl=timedelta(hours=1))])
    try:
        store.materialize(NOW - timedelta(days=1), NOW, batch_size=7)
        expected = latest(frame)
        got = store.get_online_features(FEATURES, {"driver_id": [0, 999]})
        fresh = expected.loc[0, "event_timestamp"] > pd.Timestamp(NOW) - pd.Timedelta(hours=1)
        assert got.statuses["trips"] == ["present" if fresh else "expired", "missing"]
        assert got.event_timestamps["trips"][0] == expected.loc[0, "event_timestamp"]
        assert store.validate_consistency("driver_stats").ok
        store.push("driver_stats", frame.iloc[:1].assign(
            event_timestamp=pd.Timestamp(NOW), created=pd.Timestamp(NOW), trips=42.0))
        assert store.get_online_features(FEATURES, {"driver_id": [0]}).values["trips"] == [42.0]
    finally:
        online.delete_namespace(namespace(store._batch_view("driver_stats")))
        online.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_online_ttl_is_inclusive_at_the_boundary(request: pytest.FixtureRequest,
                                                 backend: str) -> None:
    """Served like training (``merge_asof(tolerance=ttl)``): a row exactly TTL old at read
    time is present, one a microsecond older is expired, on SQLite and on Redis."""
    from modelplane.features.lookup import entity_columns, namespace, read_online
    from modelplane.features.online import open_online_store

    online = None
    if backend == "redis":
        url = str(request.getfixturevalue("redis_url"))
        sep = "&" if "?" in url else "?"
        online = open_online_store(f"{url}{sep}key_prefix=mptest-{uuid.uuid4().hex[:10]}:")
    store = FeatureStore(online_store=online)
    ttl, us = pd.Timedelta(hours=1), pd.Timedelta(1, "us")
    now = pd.Timestamp(NOW) + pd.Timedelta(123456, "us")
    frame = pd.DataFrame({"driver_id": [1, 2, 3], "event_timestamp": [now - ttl, now - ttl - us,
                                                                      now - ttl + us],
                          "conv_rate": [1.0, 2.0, 3.0], "trips": [1.0, 2.0, 3.0]})
    store.apply([driver_view(frame.assign(created=frame["event_timestamp"]),
                             ttl=timedelta(hours=1))])
    try:
        store.materialize(NOW - timedelta(days=1), NOW)
        columns, n = entity_columns({"driver_id": [1, 2, 3]})
        got = read_online(store.online, store._compiled(FEATURES, None, False), columns, n,
                          now=now.timestamp())
        assert got.statuses["trips"] == ["present", "expired", "present"]
        assert got.values["trips"] == [1.0, None, 3.0]
        merged = pd.merge_asof(pd.DataFrame({"driver_id": [1, 2, 3], "t": [now] * 3}),
                               frame.rename(columns={"event_timestamp": "t"}).sort_values("t"),
                               on="t",
                               by="driver_id", tolerance=ttl)
        assert merged["trips"].isna().tolist() == [v is None for v in got.values["trips"]]
    finally:
        store.online.delete_namespace(namespace(store._batch_view("driver_stats")))
        store.close()
