"""Point-in-time training sets: equal to pandas ``merge_asof`` (by key, backward, TTL), ties
broken by created time, nulls for no match, rows kept in number and order; bad input named."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.features import (
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
    RequestSource,
    SqlSource,
    String,
    on_demand_feature_view,
)
from tests.unit.features.conftest import T0, driver_view, entity_frame, feature_frame

FEATURES = ["driver_stats:conv_rate", "driver_stats:trips"]


def reference(entities: pd.DataFrame, feats: pd.DataFrame, ttl: timedelta | None,
              columns: tuple[str, ...] = ("conv_rate", "trips")) -> pd.DataFrame:
    """merge_asof by key, backward, exact matches allowed, ``tolerance=ttl`` (inclusive, as
    Feast's offline stores are); ties on event time: the greatest created time (sorted last,
    and merge_asof takes the last)."""
    right = feats.sort_values(["event_timestamp", "created"], kind="stable")
    left = entities.assign(__i=np.arange(len(entities)))
    valid = left["event_timestamp"].notna()
    merged = pd.merge_asof(
        left[valid].sort_values("event_timestamp", kind="stable"),
        right[["driver_id", "event_timestamp", *columns]], on="event_timestamp",
        by="driver_id", direction="backward", allow_exact_matches=True,
        tolerance=None if ttl is None else pd.Timedelta(ttl))
    out = pd.DataFrame(index=range(len(entities)), columns=list(columns), dtype="float64")
    out.loc[merged["__i"].to_numpy(), list(columns)] = merged[list(columns)].to_numpy()
    return out


def _check(result: pd.DataFrame, expected: pd.DataFrame) -> None:
    got = result[list(expected.columns)].reset_index(drop=True).astype("float64")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


@pytest.mark.parametrize("kind", ["parquet", "dataframe", "sql", "folder", "fsspec"])
def test_equals_merge_asof_on_random_data(store: FeatureStore, rng: np.random.Generator,
                                          tmp_path: Path, kind: str) -> None:
    feats = feature_frame(rng)
    entities = entity_frame(rng)
    if kind == "parquet":
        feats.to_parquet(tmp_path / "f.parquet")
        source: object = FileSource(tmp_path / "f.parquet")
    elif kind == "folder":
        (tmp_path / "f").mkdir()
        half = len(feats) // 2
        feats.iloc[:half].to_parquet(tmp_path / "f" / "a.parquet")
        feats.iloc[half:].to_parquet(tmp_path / "f" / "b.parquet")
        source = FileSource(tmp_path / "f")
    elif kind == "sql":
        feats.to_parquet(tmp_path / "f.parquet")
        source = SqlSource(f"SELECT * FROM read_parquet('{tmp_path / 'f.parquet'}')")
    elif kind == "fsspec":
        import fsspec

        url = f"memory://mp-test-{uuid.uuid4().hex}/stats"
        with fsspec.open(f"{url}/part-0.parquet", "wb") as fh:
            feats.to_parquet(fh)
        source = FileSource(url)
    else:
        source = feats
    store.apply([driver_view(source)])
    result = store.get_historical_features(entities, FEATURES).to_pandas()
    assert len(result) == len(entities)
    pd.testing.assert_frame_equal(result[entities.columns], entities)  # order and values kept
    expected = reference(entities, feats, timedelta(hours=2))
    assert expected["conv_rate"].isna().sum() > 50  # the nulls are part of the comparison
    _check(result, expected)


def test_without_ttl_and_without_created_time(store: FeatureStore, rng: np.random.Generator
                                              ) -> None:
    feats = feature_frame(rng, ties=False)
    entities = entity_frame(rng)
    store.apply([driver_view(feats, ttl=None, created=False)])
    result = store.get_historical_features(entities, FEATURES).to_pandas()
    _check(result, reference(entities, feats, None))


@pytest.mark.parametrize("created", [True, False], ids=["created", "packed"])
def test_ttl_edges_and_future_rows(store: FeatureStore, created: bool) -> None:
    t = pd.Timestamp(T0)
    us = pd.Timedelta(1, "us")
    ttl = pd.Timedelta(hours=1)
    feats = pd.DataFrame({
        "driver_id": [1, 2, 3, 4, 5, 5, 6, 6],
        "event_timestamp": [t, t - ttl, t - ttl + us, t + us, t - 3 * ttl, t - ttl + us,
                            t - 5 * ttl, t - 2 * ttl + us],
        "created": [t] * 8,
        "conv_rate": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], "trips": [1.0] * 8})
    store.apply([driver_view(feats, ttl=timedelta(hours=1), created=created)])
    entities = pd.DataFrame({"driver_id": [1, 2, 3, 4, 5, 5, 6, 6],
                             "event_timestamp": [t, t, t, t, t - 3 * ttl + us, t,
                                                 t - ttl + us, t - ttl - us]})
    result = store.get_historical_features(entities, FEATURES).to_pandas()
    # at the row's time: in; exactly ttl old: in (inclusive); just younger: in; in the
    # future: out; rows of one key far apart in time; the latest earlier row exactly ttl old,
    # or 2 us younger
    got = [None if np.isnan(v) else v for v in result["conv_rate"]]
    assert got == [1.0, 2.0, 3.0, None, 5.0, 6.0, 8.0, 8.0]


def _boundary_frames(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entity rows each with a feature row of its key exactly TTL older, 1 us older than
    that, or 1 us younger; the oldest entity row's match is exactly TTL old (the edge of the
    window the join reads), and TTL-wide buckets are hit at every phase."""
    ttl = pd.Timedelta(minutes=5)
    n = 400
    times = pd.Timestamp(T0) + pd.to_timedelta(rng.integers(0, 3 * 3600, n), unit="s")
    times = times.where(np.arange(n) % 7 != 0, pd.Timestamp(T0) + ttl * (np.arange(n) % 5))
    keys = np.arange(n) % 40
    shift = pd.to_timedelta(np.array([0, -1, 1])[np.arange(n) % 3], unit="us")
    feats = pd.DataFrame({"driver_id": keys.astype("int64"),
                          "event_timestamp": times - ttl - shift,
                          "conv_rate": rng.standard_normal(n), "trips": rng.standard_normal(n)})
    entities = pd.DataFrame({"driver_id": keys.astype("int64"), "event_timestamp": times})
    entities.loc[0, "event_timestamp"] = feats["event_timestamp"].min() + ttl
    feats.loc[0, "event_timestamp"] = feats["event_timestamp"].min()
    return feats.assign(created=feats["event_timestamp"]), entities


@pytest.mark.parametrize("shape", ["packed", "created", "general", "parquet"])
def test_exactly_ttl_old_is_joined_as_merge_asof_with_tolerance_ttl(
        store: FeatureStore, rng: np.random.Generator, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    """Every join shape agrees with ``merge_asof(tolerance=ttl)`` on the boundary: a row
    exactly TTL old is joined, one a microsecond older is not."""
    from modelplane.features import pitjoin

    feats, entities = _boundary_frames(rng)
    source: object = feats if shape != "parquet" else FileSource(tmp_path / "f.parquet")
    feats.to_parquet(tmp_path / "f.parquet")
    if shape == "general":
        monkeypatch.setattr(pitjoin, "_PACKED_LIMIT", 1)
    store.apply([driver_view(source, ttl=timedelta(minutes=5), created=shape == "created")])
    result = store.get_historical_features(entities, FEATURES).to_pandas()
    expected = reference(entities, feats, timedelta(minutes=5))
    exact = (entities["event_timestamp"] - feats["event_timestamp"]) == pd.Timedelta(minutes=5)
    assert exact.sum() > 100 and expected.loc[exact, "trips"].notna().all()
    assert expected["trips"].isna().sum() > 50  # the 1 us too old rows are expired
    assert not np.isnan(result.loc[0, "trips"])  # the window's oldest edge is joined too
    _check(result, expected)


def test_ties_on_event_time_go_to_the_latest_created(store: FeatureStore) -> None:
    t = pd.Timestamp(T0)
    feats = pd.DataFrame({
        "driver_id": [7, 7, 7], "event_timestamp": [t, t, t],
        "created": [t + pd.Timedelta(seconds=5), t + pd.Timedelta(seconds=9), t],
        "conv_rate": [5.0, 9.0, 0.0], "trips": [5.0, 9.0, 0.0]})
    for order in ([0, 1, 2], [1, 2, 0], [2, 0, 1]):
        store.apply([driver_view(feats.iloc[order].reset_index(drop=True))])
        entities = pd.DataFrame({"driver_id": [7], "event_timestamp": [t]})
        result = store.get_historical_features(entities, FEATURES).to_pandas()
        assert result["conv_rate"].tolist() == [9.0]


def test_rows_are_never_dropped_or_duplicated(store: FeatureStore, rng: np.random.Generator
                                              ) -> None:
    feats = feature_frame(rng)
    store.apply([driver_view(feats)])
    entities = entity_frame(rng, rows=300)
    entities = pd.concat([entities, entities.iloc[:50]])  # duplicated rows stay duplicated
    entities.loc[entities.index[:5], "driver_id"] = 10_000  # unknown keys
    entities = entities.sample(frac=1.0, random_state=3)  # any order, any index
    entities.index = rng.permutation(len(entities)) * 7
    result = store.get_historical_features(entities, FEATURES).to_pandas()
    assert list(result.index) == list(entities.index)
    pd.testing.assert_frame_equal(result[entities.columns], entities)
    _check(result, reference(entities.reset_index(drop=True), feats, timedelta(hours=2)))
    arrow = store.get_historical_features(pa.Table.from_pandas(entities, preserve_index=False),
                                          FEATURES).to_arrow()
    assert arrow.num_rows == len(entities) and arrow.column_names[-2:] == ["conv_rate", "trips"]


def test_null_entity_timestamps_get_nulls(store: FeatureStore, rng: np.random.Generator) -> None:
    store.apply([driver_view(feature_frame(rng), ttl=None)])
    entities = pd.DataFrame({"driver_id": [1, 1], "event_timestamp": [pd.Timestamp(T0)
                             + pd.Timedelta(days=2), pd.NaT]}).astype(
        {"event_timestamp": "datetime64[us, UTC]"})
    result = store.get_historical_features(entities, FEATURES).to_pandas()
    assert not np.isnan(result["trips"].iloc[0]) and np.isnan(result["trips"].iloc[1])


def test_views_with_other_keys_composite_keys_and_naive_times(store: FeatureStore,
                                                              tmp_path: Path) -> None:
    t = pd.Timestamp("2024-01-01 12:00")  # naive: taken as UTC
    customer = Entity("customer", join_keys=["customer_id"], dtype=String)
    route = Entity("route", join_keys=["origin", "dest"], dtype=String)
    customers = FeatureView("customer_stats", entities=[customer], source=pd.DataFrame({
        "customer_id": ["a", "b"], "event_timestamp": [t, t], "spend": [10, 20]}),
        schema=[Field("spend", Int64)])
    routes = FeatureView("route_stats", entities=[route], source=pd.DataFrame({
        "origin": ["x", "x"], "dest": ["y", "z"], "event_timestamp": [t, t],
        "km": [1.5, 2.5]}), schema=[Field("km", Float64)], ttl=timedelta(minutes=5))
    store.apply([customers, routes])
    entities = pd.DataFrame({"customer_id": ["b", "a", "c"], "origin": ["x", "x", "x"],
                             "dest": ["z", "y", "y"],
                             "event_timestamp": [t, t + pd.Timedelta(minutes=10), t]})
    result = store.get_historical_features(
        entities, ["customer_stats:spend", "route_stats:km"], full_feature_names=True
    ).to_pandas()
    assert result["customer_stats__spend"].tolist()[:2] == [20, 10]
    assert np.isnan(result["customer_stats__spend"].iloc[2])
    assert result["route_stats__km"].tolist()[0] == 2.5
    assert np.isnan(result["route_stats__km"].iloc[1])  # 10 minutes > 5 minute TTL
    path = store.get_historical_features(entities, ["route_stats:km"]).to_parquet(
        tmp_path / "train.parquet")
    assert pq.read_table(path).column_names == [*entities.columns, "km"]


def test_on_demand_features_offline(store: FeatureStore, rng: np.random.Generator) -> None:
    feats = feature_frame(rng)
    view = driver_view(feats)

    @on_demand_feature_view(sources=[view[["conv_rate"]], RequestSource("req", [
        Field("boost", Float64)])], schema=[Field("boosted", Float64)])
    def boosted(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"boosted": frame["conv_rate"] * frame["boost"]})

    store.apply([view, boosted])
    entities = entity_frame(rng, rows=200).assign(boost=2.0)
    result = store.get_historical_features(
        entities, ["boosted:boosted", "driver_stats:trips"]).to_pandas()
    expected = reference(entities, feats, timedelta(hours=2))
    np.testing.assert_allclose(result["boosted"], expected["conv_rate"] * 2.0)
    assert list(result.columns)[-2:] == ["boosted", "trips"]
    with pytest.raises(InvalidArgumentError, match="'boost'"):
        store.get_historical_features(entities.drop(columns="boost"), ["boosted:boosted"])


# -- bad input ----------------------------------------------------------------------------


def test_entity_frame_missing_join_key_or_timestamp(store: FeatureStore,
                                                    rng: np.random.Generator) -> None:
    store.apply([driver_view(feature_frame(rng))])
    entities = entity_frame(rng, rows=10)
    with pytest.raises(InvalidArgumentError, match="join key 'driver_id'") as exc:
        store.get_historical_features(entities.drop(columns="driver_id"), FEATURES)
    assert exc.value.details["field"] == "driver_id"
    with pytest.raises(InvalidArgumentError, match="'event_timestamp'") as exc:
        store.get_historical_features(entities.rename(columns={"event_timestamp": "t"})
                                      .assign(t=1), FEATURES)
    assert exc.value.details["field"] == "event_timestamp"
    with pytest.raises(InvalidArgumentError, match="'when'"):
        store.get_historical_features(entities, FEATURES, timestamp_column="when")
    with pytest.raises(InvalidArgumentError, match="'driver_id'"):
        store.get_historical_features(entities.assign(driver_id="x"), FEATURES)


def test_unknown_view_or_feature_lists_close_names(store: FeatureStore,
                                                   rng: np.random.Generator) -> None:
    store.apply([driver_view(feature_frame(rng))])
    entities = entity_frame(rng, rows=10)
    with pytest.raises(NotFoundError, match="did you mean 'driver_stats'") as exc:
        store.get_historical_features(entities, ["drivers_stats:conv_rate"])
    assert exc.value.details["suggestions"] == ["driver_stats"]
    with pytest.raises(NotFoundError, match="did you mean 'conv_rate'"):
        store.get_historical_features(entities, ["driver_stats:conv_rat"])
    with pytest.raises(InvalidArgumentError, match="view:feature"):
        store.get_historical_features(entities, ["driver_stats.conv_rate"])


def test_source_missing_a_declared_column_or_with_a_wrong_type(
        store: FeatureStore, rng: np.random.Generator, tmp_path: Path) -> None:
    feats = feature_frame(rng)
    feats.drop(columns="trips").to_parquet(tmp_path / "f.parquet")
    view = driver_view(FileSource(tmp_path / "f.parquet"))
    with pytest.raises(InvalidArgumentError, match="no column 'trips'") as exc:
        store.apply([view])  # refused at apply: nothing stored
    assert exc.value.details["field"] == "trips"
    assert store.list_feature_views() == []
    with pytest.raises(InvalidArgumentError, match="no column 'trips'"):  # a DataFrame too
        store.plan([driver_view(feats.drop(columns="trips"))])
    feats.to_parquet(tmp_path / "f.parquet")
    store.apply([view])
    feats.drop(columns="trips").to_parquet(tmp_path / "f.parquet")  # the file changes later
    with pytest.raises(InvalidArgumentError, match="no column 'trips'"):
        store.get_historical_features(entity_frame(rng, rows=5), FEATURES)
    feats.assign(trips="many").to_parquet(tmp_path / "f.parquet")
    with pytest.raises(InvalidArgumentError, match=r"'trips'.*VARCHAR.*float64"):
        store.get_historical_features(entity_frame(rng, rows=5), FEATURES)


@pytest.fixture
def packed_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each view of each retrieval was joined on a packed key."""
    from modelplane.features import pitjoin

    calls: list[bool] = []
    real = pitjoin._packing

    def spy(*args: object) -> object:
        found = real(*args)  # type: ignore[arg-type]
        calls.append(found is not None)
        return found

    monkeypatch.setattr(pitjoin, "_packing", spy)
    return calls


@pytest.mark.parametrize("kind", ["parquet", "sql", "dataframe"])
def test_packed_key_join_equals_merge_asof(store: FeatureStore, rng: np.random.Generator,
                                           tmp_path: Path, kind: str,
                                           packed_calls: list[bool]) -> None:
    """Views with a TTL and no created time join on one packed integer; unknown keys,
    duplicated rows, null times and keys outside the frame behave as in the general join."""
    feats = feature_frame(rng, ties=False).drop(columns="created")
    feats.to_parquet(tmp_path / "f.parquet")
    source: object = {"parquet": FileSource(tmp_path / "f.parquet"), "dataframe": feats,
                      "sql": SqlSource(f"SELECT * FROM read_parquet('{tmp_path / 'f.parquet'}')")
                      }[kind]
    store.apply([driver_view(source, created=False)])
    entities = entity_frame(rng, rows=800, entities=70)  # keys 50..69 have no rows
    entities = pd.concat([entities, entities.iloc[:40]], ignore_index=True)
    entities.loc[[3, 17], "event_timestamp"] = pd.NaT
    result = store.get_historical_features(entities, FEATURES).to_pandas()
    assert packed_calls == [True]
    pd.testing.assert_frame_equal(result[entities.columns], entities)
    expected = reference(entities, feats.assign(created=feats["event_timestamp"]),
                         timedelta(hours=2))
    assert expected["conv_rate"].isna().sum() > 50
    _check(result, expected)


def test_packed_key_join_on_string_and_composite_keys(store: FeatureStore,
                                                      packed_calls: list[bool]) -> None:
    t = pd.Timestamp("2024-01-01 12:00", tz="UTC")
    minute = pd.Timedelta(minutes=1)
    route = Entity("route", join_keys=["origin", "dest"], dtype=String)
    routes = FeatureView("route_stats", entities=[route], source=pd.DataFrame({
        "origin": ["x", "x", "x", "y", None], "dest": ["y", "y", "z", "y", "y"],
        "event_timestamp": [t - 3 * minute, t, t - minute, t - 20 * minute, t],
        "km": [1.0, 2.0, 3.0, 4.0, 5.0]}), schema=[Field("km", Float64)],
        ttl=timedelta(minutes=5))
    store.apply([routes])
    entities = pd.DataFrame({
        "origin": ["x", "x", "x", "y", "z", None, "x"],
        "dest": ["y", "y", "z", "y", "y", "y", "y"],
        "event_timestamp": [t, t - minute, t, t, t, t, t + 10 * minute]})
    result = store.get_historical_features(entities, ["route_stats:km"]).to_pandas()
    assert packed_calls == [True]
    assert result["km"].tolist()[:3] == [2.0, 1.0, 3.0]
    assert result["km"].isna().tolist()[3:] == [True] * 4  # expired, unknown, null key, expired


def test_packed_key_falls_back_when_the_span_does_not_fit(
        store: FeatureStore, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch,
        packed_calls: list[bool]) -> None:
    from modelplane.features import pitjoin

    feats = feature_frame(rng, ties=False).drop(columns="created")
    store.apply([driver_view(feats, created=False)])
    entities = entity_frame(rng)
    packed = store.get_historical_features(entities, FEATURES).to_pandas()
    monkeypatch.setattr(pitjoin, "_PACKED_LIMIT", 1000)
    plain = store.get_historical_features(entities, FEATURES).to_pandas()
    assert packed_calls == [True, False]
    pd.testing.assert_frame_equal(packed, plain)
