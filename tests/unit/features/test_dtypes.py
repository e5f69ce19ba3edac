"""List and bytes features end to end: definitions, the point-in-time join, materialization,
online reads on SQLite and Redis, push with dtype checks, consistency."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.features import (
    Array,
    Bool,
    Bytes,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float32,
    Float64,
    Int64,
    String,
)
from modelplane.features.online import open_online_store

NOW = datetime.now(UTC).replace(microsecond=0)
driver = Entity("driver", join_keys=["driver_id"])
SCHEMA = [Field("embedding", Array(Float32)), Field("trips", Array(Int64)),
          Field("zones", Array(String)), Field("flags", Array(Bool)),
          Field("weights", Array(Float64)), Field("thumbnail", Bytes)]
FEATURES = [f"rich:{f.name}" for f in SCHEMA]


def rich_table() -> pa.Table:
    """Three drivers; driver 1 has an older and a newer row; nulls inside and as values."""
    t = pa.timestamp("us", tz="UTC")
    now_us = int(NOW.timestamp() * 1_000_000)
    return pa.table({
        "driver_id": pa.array([1, 1, 2, 3], pa.int64()),
        "event_timestamp": pa.array([now_us - 7_200_000_000, now_us - 60_000_000,
                                     now_us - 60_000_000, now_us - 30_000_000], t),
        "embedding": pa.array([[0.0, 0.0], [0.5, -1.25], [1.5, 2.0], None],
                              pa.list_(pa.float32())),
        "trips": pa.array([[1], [1, 2, 3], [], [4, None]], pa.list_(pa.int64())),
        "zones": pa.array([["x"], ["north", "b\"q"], ["é"], None], pa.list_(pa.string())),
        "flags": pa.array([[True], [True, False], None, [False]], pa.list_(pa.bool_())),
        "weights": pa.array([[1.0], [float("nan"), 2.5], [1e300], []],
                            pa.large_list(pa.float64())),
        "thumbnail": pa.array([b"old", b"\x00\xff\x10binary", b"", None], pa.binary()),
    })


def rich_view(source: object, ttl: timedelta | None = timedelta(hours=1)) -> FeatureView:
    return FeatureView("rich", entities=[driver], source=source, schema=SCHEMA, ttl=ttl)


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    path = tmp_path / "rich.parquet"
    pq.write_table(rich_table(), path)
    return path


EXPECTED = {  # driver 1's newer row, driver 2, driver 3
    "embedding": [[0.5, -1.25], [1.5, 2.0], None],
    "trips": [[1, 2, 3], [], [4, None]],
    "zones": [["north", "b\"q"], ["é"], None],
    "flags": [[True, False], None, [False]],
    "thumbnail": [b"\x00\xff\x10binary", b"", None],
}


def _check_rows(values: dict[str, list[object]]) -> None:
    for name, want in EXPECTED.items():
        assert values[name] == want, name
    weights = values["weights"]
    assert np.isnan(weights[0][0]) and weights[0][1] == 2.5  # type: ignore[index]
    assert weights[1:] == [[1e300], []]


def test_dtype_names_and_errors() -> None:
    assert Array(Float32) == "array<float32>" and Bytes == "bytes"
    assert Field("e", "array<int64>").dtype == Array(Int64)
    with pytest.raises(InvalidArgumentError, match="a list holds one of"):
        Array(Bytes)
    with pytest.raises(InvalidArgumentError, match=r"field 'e': unknown dtype 'list<float>'"):
        Field("e", "list<float>")
    with pytest.raises(InvalidArgumentError, match="unknown dtype"):
        Entity("d", dtype=Bytes)


def test_point_in_time_join_returns_lists_and_bytes(store: FeatureStore, parquet: Path
                                                    ) -> None:
    store.apply([rich_view(FileSource(parquet))])
    entity_df = pd.DataFrame({"driver_id": [1, 2, 3, 1, 9],
                              "event_timestamp": [pd.Timestamp(NOW)] * 3
                              + [pd.Timestamp(NOW) - pd.Timedelta(minutes=90)] * 2})
    result = store.get_historical_features(entity_df, FEATURES)
    table = result.to_arrow()
    assert table.schema.field("embedding").type == pa.list_(pa.float32())
    assert table.schema.field("thumbnail").type == pa.binary()
    values = table.to_pydict()
    _check_rows({k: v[:3] for k, v in values.items()})
    # driver 1 ninety minutes ago sees its older row; driver 9 has none
    assert values["thumbnail"][3:] == [b"old", None]
    assert values["trips"][3:] == [[1], None]
    frame = result.to_pandas()
    assert list(frame["embedding"][0]) == [0.5, -1.25]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def any_store(request: pytest.FixtureRequest, mp_home: Path) -> Iterator[FeatureStore]:
    if request.param == "sqlite":
        fs = FeatureStore()
        yield fs
        fs.close()
        return
    url = str(request.getfixturevalue("redis_url"))
    sep = "&" if "?" in url else "?"
    online = open_online_store(f"{url}{sep}key_prefix=mptest-{uuid.uuid4().hex[:10]}:")
    fs = FeatureStore(online_store=online)
    yield fs
    from modelplane.features.lookup import namespace

    online.delete_namespace(namespace(fs._batch_view("rich")))
    fs.close()
    online.close()


def test_materialize_and_read_online_on_both_stores(any_store: FeatureStore, parquet: Path
                                                    ) -> None:
    any_store.apply([rich_view(FileSource(parquet))])
    assert any_store.materialize(NOW - timedelta(days=1), NOW)[0].rows == 3
    online = any_store.get_online_features(FEATURES, {"driver_id": [1, 2, 3, 4]})
    assert online.statuses["thumbnail"] == ["present"] * 3 + ["missing"]
    _check_rows({k: v[:3] for k, v in online.values.items()})
    body = online.to_json()["features"]
    assert body["thumbnail"]["values"] == [base64.b64encode(b"\x00\xff\x10binary").decode(),
                                           "", None, None]
    assert body["weights"]["values"][0] == [None, 2.5]  # NaN inside a list -> null
    assert any_store.validate_consistency("rich").ok
    stats = any_store.statistics("rich")
    assert stats is not None and stats["num_rows"] == 3


def test_push_checks_list_and_bytes_dtypes(store: FeatureStore, parquet: Path) -> None:
    store.apply([rich_view(FileSource(parquet), ttl=None)])
    good = {"driver_id": [5], "event_timestamp": [pd.Timestamp(NOW)],
            "embedding": [np.array([1.0, 2.0])], "trips": [[7]], "zones": [["z"]],
            "flags": [[True]], "weights": [[3]], "thumbnail": [b"\x01"]}
    assert store.push("rich", pd.DataFrame(good)) == 1
    got = store.get_online_features(FEATURES, [{"driver_id": 5}]).values
    assert got["embedding"] == [[1.0, 2.0]] and got["weights"] == [[3.0]]
    assert got["thumbnail"] == [b"\x01"]
    cases = [("embedding", [["a"]], r"column 'embedding' is list<item: string>, expected "
              r"array<float32>"),
             ("trips", [[1.5]], "expected array<int64>"),
             ("trips", [3], r"column 'trips' is int64, expected array<int64>"),
             ("thumbnail", ["text"], r"column 'thumbnail' is string, expected bytes"),
             ("zones", [[1]], "expected array<string>")]
    for column, value, message in cases:
        with pytest.raises(InvalidArgumentError, match=message) as err:
            store.push("rich", pd.DataFrame({**good, column: value}))
        assert err.value.details["field"] == column
    frame = store.get_historical_features(
        pd.DataFrame({"driver_id": [5], "event_timestamp": [pd.Timestamp(NOW)]}),
        ["rich:trips"]).to_arrow()
    assert frame.column("trips").to_pylist() == [[7]]  # pushed rows reach training too


def test_push_json_decodes_base64_and_names_bad_columns(store: FeatureStore, parquet: Path
                                                        ) -> None:
    store.apply([rich_view(FileSource(parquet), ttl=None)])
    body = {"driver_id": [6], "event_timestamp": [NOW.isoformat()], "embedding": [[1, 2.5]],
            "trips": [[]], "zones": [["a", None]], "flags": [[False]], "weights": [None],
            "thumbnail": [base64.b64encode(b"\xfe\x00").decode()]}
    assert store.push_json("rich", body) == 1
    got = store.get_online_features(FEATURES, [{"driver_id": 6}]).values
    assert got["thumbnail"] == [b"\xfe\x00"] and got["embedding"] == [[1.0, 2.5]]
    assert got["zones"] == [["a", None]] and got["weights"] == [None]
    with pytest.raises(InvalidArgumentError, match="'thumbnail' holds bytes: expected base64"):
        store.push_json("rich", {**body, "thumbnail": ["not base64!"]})
    with pytest.raises(InvalidArgumentError, match="column 'embedding'"):
        store.push_json("rich", {**body, "embedding": [[1, "x"]]})


def test_a_source_column_that_cannot_hold_the_dtype_is_named(store: FeatureStore,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    table = rich_table().set_column(2, "embedding", pa.array([1.0, 2.0, 3.0, 4.0]))
    pq.write_table(table, path)
    with pytest.raises(InvalidArgumentError, match=r"column 'embedding' of the source is "
                       r"DOUBLE, which cannot hold its declared dtype array<float32>"):
        store.apply([rich_view(FileSource(path))])
    fixed = rich_table().set_column(2, "embedding", pa.array(
        [[1.0, 2.0]] * 4, pa.list_(pa.float64(), 2)))  # a fixed-size array fits a list
    pq.write_table(fixed, path)
    store.apply([rich_view(FileSource(path))])
    assert store.materialize(NOW - timedelta(days=1), NOW)[0].rows == 3
