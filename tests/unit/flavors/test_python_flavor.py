"""The python flavor: any object with ``predict``, pickled by value with cloudpickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.flavors import ColumnSpec, load_model, save_model


def test_local_class_with_records_example(tmp_path: Path) -> None:
    class Threshold:  # defined in a function: pickled by value
        classes_ = np.array(["low", "high"])

        def predict(self, records: list[dict[str, Any]]) -> list[str]:
            return ["high" if r["x"] > 1 else "low" for r in records]

        def predict_proba(self, records: list[dict[str, Any]]) -> list[list[float]]:
            return [[0.0, 1.0] if r["x"] > 1 else [1.0, 0.0] for r in records]

    meta = save_model(Threshold(), tmp_path / "m", input_example=[{"x": 0.5, "tag": "a"}])
    assert (meta.flavor, meta.has_proba, meta.classes) == ("python", True, ["low", "high"])
    assert meta.signature is not None
    assert meta.signature.inputs == [ColumnSpec("x", "float64"), ColumnSpec("tag", "string")]
    model = load_model(tmp_path / "m", allow_pickle=True)
    assert model.predict([{"x": 2, "tag": "b"}, {"x": 0, "tag": 3}]).tolist() == ["high", "low"]
    assert model.predict({"x": "3.5", "tag": "c"}).tolist() == ["high"]
    np.testing.assert_array_equal(model.predict_proba({"x": 0, "tag": "c"}), [[1.0, 0.0]])
    with pytest.raises(InvalidArgumentError) as info:
        model.predict({"tag": "c"})
    assert info.value.details["field"] == "x"


def test_ndarray_example_and_no_proba(tmp_path: Path) -> None:
    class Summer:
        def predict(self, x: Any) -> Any:
            return x.sum(axis=1)

    save_model(Summer(), tmp_path / "m", input_example=np.ones((2, 3)))
    model = load_model(tmp_path / "m", allow_pickle=True)
    np.testing.assert_array_equal(model.predict([[1, 2, 3]]), [6.0])
    assert not model.has_proba
    with pytest.raises(InvalidArgumentError):
        model.predict_proba([[1, 2, 3]])


def test_without_example_data_passes_through(tmp_path: Path) -> None:
    class Echo:
        def predict(self, data: Any) -> Any:
            return [len(data)]

    meta = save_model(Echo(), tmp_path / "m")
    assert meta.signature is None
    assert load_model(tmp_path / "m", allow_pickle=True).predict("abcd").tolist() == [4]


def test_predict_failing_on_the_example_is_reported(tmp_path: Path) -> None:
    class Broken:
        def predict(self, data: Any) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(InvalidArgumentError, match="boom") as info:
        save_model(Broken(), tmp_path / "m", input_example=[[1.0]])
    assert info.value.details["field"] == "input_example"
    assert not (tmp_path / "m").exists()  # nothing half-written is left behind
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError):
        save_model(Broken(), tmp_path / "empty", input_example=[[1.0]])
    assert list((tmp_path / "empty").iterdir()) == []
