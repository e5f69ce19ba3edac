"""Input validation and conversion rules (``modelplane.flavors.inputs``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.flavors import ColumnSpec, Signature
from modelplane.flavors.inputs import InputAdapter

FLOATS = Signature([ColumnSpec("a", "float64"), ColumnSpec("b", "float64")])
MIXED = Signature(
    [
        ColumnSpec("n", "int64"),
        ColumnSpec("x", "float64"),
        ColumnSpec("flag", "bool"),
        ColumnSpec("city", "string"),
    ]
)
TENSOR = Signature([ColumnSpec("input", "float32", (-1, 3))])


def _error(adapter: InputAdapter, data: Any) -> InvalidArgumentError:
    with pytest.raises(InvalidArgumentError) as info:
        adapter.prepare(data)
    return info.value


@pytest.mark.parametrize(
    "data",
    [
        np.array([[1.0, 2.0], [3.0, 4.0]]),
        [[1, 2], [3, 4]],
        [{"a": 1.0, "b": 2.0}, {"b": 4, "a": 3}],
        {"a": [1.0, 3.0], "b": [2.0, 4.0]},
        [{"a": "1", "b": "2.0"}, {"a": 3, "b": 4}],  # numeric strings are parsed
    ],
)
def test_float_columns_from_every_input_kind(data: Any) -> None:
    out = InputAdapter(FLOATS, "ndarray").prepare(data)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1.0, 2.0], [3.0, 4.0]])


def test_single_record_and_single_row_are_a_batch_of_one() -> None:
    adapter = InputAdapter(FLOATS, "ndarray")
    np.testing.assert_array_equal(adapter.prepare({"a": 1, "b": 2}), [[1.0, 2.0]])
    np.testing.assert_array_equal(adapter.prepare(np.array([1.0, 2.0])), [[1.0, 2.0]])


def test_dataframe_columns_are_reordered_and_extras_ignored() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"extra": ["z", "z"], "b": [2.0, 4.0], "a": [1, 3]})
    out = InputAdapter(FLOATS, "ndarray").prepare(frame)
    np.testing.assert_array_equal(out, [[1.0, 2.0], [3.0, 4.0]])


def test_matching_ndarray_is_returned_as_is() -> None:
    data = np.zeros((2, 2))
    assert InputAdapter(FLOATS, "ndarray").prepare(data) is data
    tensor = np.zeros((4, 3), dtype=np.float32)
    assert InputAdapter(TENSOR, "ndarray").prepare(tensor) is tensor


def test_missing_values_become_nan_for_floats() -> None:
    out = InputAdapter(FLOATS, "ndarray").prepare([{"a": None, "b": 1.0}])
    assert np.isnan(out[0, 0])


@pytest.mark.parametrize(
    ("data", "field", "got"),
    [
        ({"a": 1.0}, "b", "missing"),
        ([{"a": 1.0, "b": 2.0}, {"a": 1.0}], "b", "missing"),
        ({"a": 1.0, "b": "abc"}, "b", "str 'abc'"),
        ([{"a": 1.0, "b": [1, 2]}], "b", None),
        (np.zeros((2, 3)), "input", [2, 3]),
        ([[1.0, 2.0, 3.0]], "input", [1, 3]),
        ([], "input", None),
        ("text", "input", "str"),
    ],
)
def test_bad_input_names_the_field(data: Any, field: str, got: Any) -> None:
    error = _error(InputAdapter(FLOATS, "ndarray"), data)
    assert error.details["field"] == field
    assert "expected" in error.details
    if got is not None:
        assert error.details["got"] == got
    assert error.http_status == 422


def test_dataframe_missing_column_and_bad_value() -> None:
    pd = pytest.importorskip("pandas")
    adapter = InputAdapter(FLOATS, "ndarray")
    assert _error(adapter, pd.DataFrame({"a": [1.0]})).details["field"] == "b"
    bad = pd.DataFrame({"a": [1.0], "b": ["oops"]})
    error = _error(adapter, bad)
    assert (error.details["field"], error.details["expected"]) == ("b", "float64")
    assert "'b'" in str(error)


def test_mixed_columns_rules() -> None:
    pd = pytest.importorskip("pandas")
    adapter = InputAdapter(MIXED, "dataframe")
    frame = adapter.prepare([{"n": 2.0, "x": 1, "flag": 1, "city": 7, "ignored": None}])
    assert list(frame.columns) == ["n", "x", "flag", "city"]
    row = frame.iloc[0]
    assert (row["n"], row["x"], row["flag"], row["city"]) == (2, 1.0, True, "7")
    assert isinstance(frame, pd.DataFrame)


@pytest.mark.parametrize(
    ("record", "field", "got"),
    [
        ({"n": 2.5, "x": 1.0, "flag": True, "city": "a"}, "n", "float 2.5"),
        ({"n": None, "x": 1.0, "flag": True, "city": "a"}, "n", "missing value"),
        ({"n": "two", "x": 1.0, "flag": True, "city": "a"}, "n", "str 'two'"),
        ({"n": 1, "x": 1.0, "flag": 2, "city": "a"}, "flag", "int64 values"),
    ],
)
def test_mixed_columns_rejections(record: dict[str, Any], field: str, got: str) -> None:
    error = _error(InputAdapter(MIXED, "records"), [record])
    assert (error.details["field"], error.details["got"]) == (field, got)


def test_records_target_round_trips() -> None:
    record = {"n": 1, "x": 0.5, "flag": False, "city": "a"}
    assert InputAdapter(MIXED, "records").prepare(record) == [record]


def test_tensor_shape_and_cast() -> None:
    adapter = InputAdapter(TENSOR, "ndarray")
    out = adapter.prepare([[1, 2, 3]])
    assert (out.dtype, out.shape) == (np.float32, (1, 3))
    assert adapter.prepare(np.arange(3.0)).shape == (1, 3)  # one example, no batch dim
    assert adapter.prepare({"input": [[1, 2, 3], [4, 5, 6]]}).shape == (2, 3)
    error = _error(adapter, np.zeros((2, 4)))
    assert error.details == {"field": "input", "expected": [-1, 3], "got": [2, 4]}
    assert _error(adapter, [["a", "b", "c"]]).details["got"] == "str 'a'"
    assert _error(adapter, [[1, 2], [3]]).details["field"] == "input"


def test_several_tensor_inputs() -> None:
    signature = Signature(
        [ColumnSpec("ids", "int64", (-1, 4)), ColumnSpec("mask", "float32", (-1, 4))]
    )
    adapter = InputAdapter(signature, "columns")
    out = adapter.prepare({"ids": [[1, 2, 3, 4]], "mask": [[1, 1, 0, 0]]})
    assert out["ids"].dtype == np.int64 and out["mask"].dtype == np.float32
    assert _error(adapter, {"ids": [[1, 2, 3, 4]]}).details["field"] == "mask"


def test_no_signature_passes_data_through() -> None:
    data = object()
    assert InputAdapter(None).prepare(data) is data
