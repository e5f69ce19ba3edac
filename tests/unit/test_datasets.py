"""Dataset loading, canonical digests, schemas and profiles (``tracking.datasets``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.data import canonical_digest, profile, schema_of, to_arrow
from modelplane.tracking.datasets import DatasetInfo, describe


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "x": [1.5, np.nan, 3.0, -2.0],
        "n": pd.array([1, None, 3, 4], dtype="Int64"),
        "s": ["a", None, "b", "a"],
        "c": pd.Categorical(["u", "v", "u", "u"]),
        "t": pd.to_datetime(["2024-01-01", None, "2024-01-03", "2024-01-04"]),
        "b": pd.array([True, False, None, True], dtype="boolean"),
    })


def _arrow() -> pa.Table:
    return pa.table({
        "x": pa.array([1.5, None, 3.0, -2.0]),
        "n": pa.array([1, None, 3, 4]),
        "s": pa.array(["a", None, "b", "a"], pa.string()),
        "c": pa.array(["u", "v", "u", "u"]).dictionary_encode(),
        "t": pa.array([datetime(2024, 1, 1), None, datetime(2024, 1, 3), datetime(2024, 1, 4)],
                      pa.timestamp("s")),
        "b": pa.array([True, False, None, True]),
    })


# -- digest ---------------------------------------------------------------------------------


def test_equal_data_has_equal_digest_whatever_its_origin() -> None:
    from_pandas = canonical_digest(to_arrow(_frame()))
    assert from_pandas == canonical_digest(_arrow())
    # a different (unnamed) pandas index, and chunking, do not matter
    assert canonical_digest(to_arrow(_frame().set_axis([9, 7, 5, 3]))) == from_pandas
    chunked = pa.concat_tables([_arrow().slice(0, 1), _arrow().slice(1, 2), _arrow().slice(3)])
    assert chunked.column("x").num_chunks == 3
    assert canonical_digest(chunked) == from_pandas
    assert canonical_digest(_arrow().replace_schema_metadata({"k": "v"})) == from_pandas
    assert canonical_digest(pa.Table.from_batches(_arrow().to_batches(max_chunksize=1))) \
        == from_pandas


def test_digest_is_stable_and_hex_sha256() -> None:
    digest = canonical_digest(_arrow())
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert canonical_digest(_arrow()) == digest


@pytest.mark.parametrize("change", [
    lambda t: t.set_column(0, "x", pa.array([1.5, None, 3.0, -2.5])),     # one value
    lambda t: t.set_column(0, "x", pa.array([1.5, 0.0, 3.0, -2.0])),      # a null filled
    lambda t: t.set_column(2, "s", pa.array(["a", None, "b", "A"])),      # one string
    lambda t: t.set_column(2, "s", pa.array(["a", "", "b", "a"])),        # null vs empty
    lambda t: t.set_column(2, "s", pa.array(["ab", None, "", "a"])),      # bytes move rows
    lambda t: t.rename_columns(["x2", "n", "s", "c", "t", "b"]),           # a name
    lambda t: t.select(["n", "x", "s", "c", "t", "b"]),                   # column order
    lambda t: t.set_column(1, "n", t.column("n").cast(pa.int32())),       # a type
    lambda t: t.slice(0, 3),                                               # a row fewer
    lambda t: t.set_column(5, "b", pa.array([True, True, None, True])),   # a boolean
])
def test_any_change_changes_the_digest(change: Callable[[pa.Table], pa.Table]) -> None:
    assert canonical_digest(change(_arrow())) != canonical_digest(_arrow())


def test_null_slot_garbage_does_not_change_the_digest() -> None:
    clean = pa.array([1.0, None, 3.0])
    values = pa.py_buffer(np.array([1.0, 12345.0, 3.0]).tobytes())
    dirty = pa.Array.from_buffers(pa.float64(), 3, [clean.buffers()[0], values], null_count=1)
    assert dirty.equals(clean)
    assert canonical_digest(pa.table({"a": dirty})) == canonical_digest(pa.table({"a": clean}))


def test_digest_of_large_table_is_fast_enough() -> None:
    table = pa.table({f"c{i}": np.random.default_rng(i).random(200_000) for i in range(10)})
    assert canonical_digest(table) == canonical_digest(table.combine_chunks())


def test_nested_and_binary_columns_digest() -> None:
    table = pa.table({"l": [[1, 2], None, []], "m": [b"x", None, b""],
                      "d": pa.array([1, 2, 3], pa.decimal128(5, 2))})
    assert canonical_digest(table) == canonical_digest(pa.concat_tables([table.slice(0, 1),
                                                                         table.slice(1)]))


# -- loading --------------------------------------------------------------------------------


def test_to_arrow_accepts_the_documented_inputs(tmp_path: Path) -> None:
    expected = pa.table({"f0": [1.0, 3.0], "f1": [2.0, 4.0]})
    array = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert to_arrow(array).equals(expected)
    assert to_arrow({"f0": [1.0, 3.0], "f1": np.array([2.0, 4.0])}).equals(expected)
    assert to_arrow(expected) is expected
    assert to_arrow(expected.to_batches()[0]).equals(expected)
    assert to_arrow(pd.DataFrame(array, columns=["f0", "f1"])).equals(expected)
    assert to_arrow(pd.Series([1, 2], name="s")).column_names == ["s"]
    assert to_arrow(np.array([1, 2])).column_names == ["f0"]
    # a named index is data; an unnamed one is not
    indexed = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["a", "b"], name="id"))
    assert to_arrow(indexed).column_names == ["id", "v"]


def test_parquet_and_csv_paths(tmp_path: Path) -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    pq.write_table(table, tmp_path / "train.parquet")
    assert to_arrow(tmp_path / "train.parquet").equals(table)
    assert to_arrow(str(tmp_path / "train.parquet")).equals(table)
    assert to_arrow(f"file://{tmp_path / 'train.parquet'}").equals(table)
    (tmp_path / "train.csv").write_text("a,b\n1,x\n2,y\n3,z\n")
    assert canonical_digest(to_arrow(tmp_path / "train.csv")) == canonical_digest(table)
    (tmp_path / "part").mkdir()
    pq.write_table(table, tmp_path / "part" / "0.parquet")
    assert to_arrow(tmp_path / "part").num_rows == 3


@pytest.mark.parametrize("bad", [42, object(), [1, 2], np.zeros((2, 2, 2)), b"bytes"])
def test_unsupported_inputs_name_the_accepted_types(bad: object) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        to_arrow(bad)
    assert info.value.details["field"] == "data"
    if not isinstance(bad, np.ndarray):
        assert "pandas DataFrame" in str(info.value) and "parquet" in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        to_arrow(tmp_path / "missing.parquet")
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(InvalidArgumentError, match="cannot tell the format"):
        to_arrow(tmp_path / "data.xlsx")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        to_arrow(tmp_path / "broken.parquet")
    with pytest.raises(InvalidArgumentError, match="cannot convert"):
        to_arrow({"a": [1, 2], "b": [1]})


# -- schema and profile ---------------------------------------------------------------------


def test_schema_of() -> None:
    table = pa.table({"a": [1], "b": ["x"]}).cast(
        pa.schema([pa.field("a", pa.int64(), nullable=False), pa.field("b", pa.string())]))
    assert schema_of(table) == [{"name": "a", "type": "int64", "nullable": False},
                                {"name": "b", "type": "string", "nullable": True}]


def _column(prof: dict, name: str) -> dict:
    return next(c for c in prof["columns"] if c["name"] == name)


def test_numeric_profile_matches_numpy() -> None:
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, size=10_000)
    missing = rng.random(10_000) < 0.1
    with_nulls = pa.array(values, mask=missing)
    col = _column(profile(pa.table({"v": with_nulls}), bins=10), "v")
    present = values[~missing]
    assert col["kind"] == "numeric"
    assert col["count"] == 10_000 and col["null_count"] == with_nulls.null_count > 0
    assert sum(col["bin_counts"]) == col["count"] - col["null_count"]
    edges = col["bin_edges"]
    assert edges == sorted(edges) and len(edges) == 11 and len(col["bin_counts"]) == 10
    assert edges[0] == col["min"] == pytest.approx(present.min())
    assert edges[-1] == col["max"] == pytest.approx(present.max())
    expected_edges = np.quantile(present, np.linspace(0, 1, 11))
    assert edges == pytest.approx(expected_edges.tolist(), rel=1e-12)
    for key, q in {"p01": 0.01, "p25": 0.25, "p50": 0.5, "p95": 0.95, "p99": 0.99}.items():
        assert col["quantiles"][key] == pytest.approx(np.quantile(present, q), rel=1e-12)
    assert col["mean"] == pytest.approx(present.mean())
    assert col["std"] == pytest.approx(present.std(ddof=1))
    # bins hold edges[i] <= x < edges[i+1], the last one closed
    expected_counts, _ = np.histogram(present, bins=np.array(edges))
    assert col["bin_counts"] == expected_counts.tolist()


def test_numeric_edge_cases() -> None:
    table = pa.table({
        "const": [5, 5, 5],
        "nan": [float("nan"), 1.0, float("inf")],
        "empty": pa.array([None, None, None], pa.float64()),
    })
    prof = profile(table)
    const = _column(prof, "const")
    assert const["bin_edges"] == [5.0, 5.0] and const["bin_counts"] == [3]
    assert const["min"] == 5 and isinstance(const["min"], int) and const["std"] == 0.0
    nan = _column(prof, "nan")
    assert nan["non_finite_count"] == 2 and nan["min"] == nan["max"] == 1.0
    assert nan["std"] is None
    empty = _column(prof, "empty")
    assert empty["null_count"] == 3 and empty["min"] is None and empty["bin_counts"] == []
    json.dumps(prof, allow_nan=False)


def test_dedupes_edges_of_skewed_data() -> None:
    values = np.array([0] * 90 + list(range(1, 11)), dtype=np.int64)
    col = _column(profile(pa.table({"v": values}), bins=10), "v")
    assert col["bin_edges"] == sorted(set(col["bin_edges"]))
    assert col["bin_edges"][0] == 0.0 and col["bin_edges"][-1] == 10.0
    assert sum(col["bin_counts"]) == 100 and col["bin_counts"][0] == 90


def test_categorical_boolean_datetime_and_other_profiles() -> None:
    prof = profile(to_arrow(_frame()), top_k=1)
    s = _column(prof, "s")
    assert s["kind"] == "categorical"
    assert (s["null_count"], s["distinct_count"], s["frequencies"], s["other_count"]) == \
        (1, 2, {"a": 2}, 1)
    c = _column(prof, "c")
    assert c["kind"] == "categorical" and c["frequencies"] == {"u": 3} and c["other_count"] == 1
    b = _column(prof, "b")
    assert (b["kind"], b["true_count"], b["false_count"], b["null_count"]) == \
        ("boolean", 2, 1, 1)
    t = _column(prof, "t")
    assert (t["kind"], t["min"], t["max"]) == \
        ("datetime", "2024-01-01T00:00:00", "2024-01-04T00:00:00")
    aware = profile(pa.table({"t": pa.array([datetime(2024, 5, 1, tzinfo=UTC)],
                                            pa.timestamp("ns", tz="UTC"))}))
    assert _column(aware, "t")["max"] == "2024-05-01T00:00:00+00:00"
    other = profile(pa.table({"l": [[1], [2, 3]]}))
    assert _column(other, "l")["kind"] == "other"
    json.dumps(prof, allow_nan=False)


def test_top_k_orders_by_count_then_value() -> None:
    values = ["b"] * 3 + ["a"] * 3 + ["c"] * 5 + ["d"]
    col = _column(profile(pa.table({"v": values}), top_k=3), "v")
    assert list(col["frequencies"].items()) == [("c", 5), ("a", 3), ("b", 3)]
    assert col["other_count"] == 1 and col["distinct_count"] == 4


def test_profile_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError):
        profile(pa.table({"a": [1]}), bins=0)


def test_profile_of_a_large_table_uses_every_column() -> None:
    table = pa.table({f"c{i}": np.random.default_rng(i).normal(size=60_000) for i in range(3)})
    prof = profile(table)
    assert [c["name"] for c in prof["columns"]] == ["c0", "c1", "c2"]
    assert all(sum(c["bin_counts"]) == 60_000 for c in prof["columns"])


# -- describe -------------------------------------------------------------------------------


def test_describe(tmp_path: Path) -> None:
    info = describe(_frame(), name="train")
    assert isinstance(info, DatasetInfo)
    assert (info.name, info.num_rows, info.num_columns, info.source) == \
        ("train", 4, 6, "dataframe")
    assert info.digest == canonical_digest(_arrow())
    assert info.schema[0] == {"name": "x", "type": "double", "nullable": True}
    assert info.profile is not None and len(info.profile["columns"]) == 6
    json.dumps(info.to_dict(), allow_nan=False)

    pq.write_table(_arrow(), tmp_path / "holdout.parquet")
    from_file = describe(tmp_path / "holdout.parquet", with_profile=False)
    assert from_file.name == "holdout" and from_file.source == str(tmp_path / "holdout.parquet")
    assert from_file.digest == info.digest and from_file.profile is None
