"""Signature inference from each kind of example, and the JSON round trips."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.flavors import ColumnSpec, ModelMeta, Signature, infer_signature


def test_from_dataframe_keeps_names_order_and_dtypes() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [1.5, 2.0], "n": [1, 2], "flag": [True, False], "city": ["a", "b"]})
    signature = infer_signature(frame)
    assert signature.inputs == [
        ColumnSpec("x", "float64"),
        ColumnSpec("n", "int64"),
        ColumnSpec("flag", "bool"),
        ColumnSpec("city", "string"),
    ]
    assert not signature.is_tensor


def test_from_2d_ndarray_is_one_tensor_input() -> None:
    signature = infer_signature(np.zeros((5, 3), dtype=np.float32))
    assert signature.inputs == [ColumnSpec("input", "float32", (-1, 3))]
    assert signature.is_tensor


def test_from_nested_list_and_3d_array() -> None:
    assert infer_signature([[1, 2], [3, 4]]).inputs == [ColumnSpec("input", "int64", (-1, 2))]
    assert infer_signature(np.ones((2, 4, 5))).inputs == [
        ColumnSpec("input", "float64", (-1, 4, 5))
    ]


def test_from_records_and_single_record() -> None:
    records = [{"a": 1, "b": "x", "c": 0.5}, {"a": 2, "b": "y", "c": 1}]
    expected = [ColumnSpec("a", "int64"), ColumnSpec("b", "string"), ColumnSpec("c", "float64")]
    assert infer_signature(records).inputs == expected
    assert infer_signature(records[0]).inputs == expected


def test_missing_values_do_not_change_the_type() -> None:
    records: list[dict[str, Any]] = [{"a": None, "b": True}, {"a": 2.5, "b": False}]
    assert infer_signature(records).inputs == [
        ColumnSpec("a", "float64"),
        ColumnSpec("b", "bool"),
    ]


def test_from_dict_of_columns_with_a_tensor_column() -> None:
    columns = {"id": [1, 2, 3], "emb": np.zeros((3, 8), dtype=np.float32)}
    assert infer_signature(columns).inputs == [
        ColumnSpec("id", "int64"),
        ColumnSpec("emb", "float32", (-1, 8)),
    ]


def test_from_torch_tensor() -> None:
    torch = pytest.importorskip("torch")
    signature = infer_signature(torch.zeros(2, 3, dtype=torch.float32))
    assert signature.inputs == [ColumnSpec("input", "float32", (-1, 3))]


def test_outputs_from_prediction() -> None:
    signature = infer_signature(np.zeros((2, 3)), np.array([0, 1]))
    assert signature.outputs == [ColumnSpec("output", "int64", (-1,))]


@pytest.mark.parametrize("bad", [[], {}, object()])
def test_bad_examples_are_rejected(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        infer_signature(bad)
    assert info.value.details["field"] == "input_example"


def test_signature_and_meta_round_trip_through_dicts() -> None:
    signature = Signature(
        [ColumnSpec("a", "float64"), ColumnSpec("t", "float32", (-1, 4))],
        [ColumnSpec("label", "int64", (-1,))],
    )
    assert Signature.from_dict(signature.to_dict()) == signature
    meta = ModelMeta(
        flavor="sklearn",
        signature=signature,
        has_proba=True,
        classes=[0, 1],
        input_example=[{"a": 1.0}],
        extra={"k": "v"},
        library_version="1.0",
    )
    assert ModelMeta.from_dict(meta.to_dict()) == meta
