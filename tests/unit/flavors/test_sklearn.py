"""The scikit-learn flavor: round trips, every input kind, validation, errors, speed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from modelplane.flavors import ColumnSpec, load_model, save_model

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")


def test_dataframe_fitted_classifier_round_trip(
    tmp_path: Path, forest: Any, cancer: tuple[Any, Any]
) -> None:
    frame, _ = cancer
    meta = save_model(forest, tmp_path / "m", input_example=frame.head(3))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "model.skops", "modelplane.json"]
    assert (meta.flavor, meta.has_proba, meta.classes) == ("sklearn", True, [0, 1])
    assert meta.pickled is False
    assert meta.signature is not None
    assert meta.signature.inputs[0] == ColumnSpec("mean radius", "float64")
    assert [o.name for o in meta.signature.outputs] == ["label", "probabilities"]
    descriptor = json.loads((tmp_path / "m" / "modelplane.json").read_text())
    assert descriptor["flavor"] == "sklearn" and descriptor["library_version"]
    assert len(descriptor["input_example"]) == 3

    model = load_model(tmp_path / "m")
    assert model.flavor == "sklearn" and model.signature == meta.signature
    np.testing.assert_array_equal(model.predict(frame), forest.predict(frame))
    np.testing.assert_array_equal(model.predict_proba(frame), forest.predict_proba(frame))


def test_every_input_kind_gives_the_same_answer(
    tmp_path: Path, forest: Any, cancer: tuple[Any, Any]
) -> None:
    frame, _ = cancer
    save_model(forest, tmp_path / "m", input_example=frame.head(3))
    model = load_model(tmp_path / "m")
    rows = frame.iloc[:7]
    expected = forest.predict(rows)
    shuffled = rows[list(reversed(rows.columns))].assign(extra="ignored")
    for data in (
        rows,
        shuffled,
        rows.to_numpy(),
        rows.to_numpy().tolist(),
        rows.to_dict(orient="records"),
        rows.to_dict(orient="list"),
    ):
        np.testing.assert_array_equal(model.predict(data), expected)
    first = rows.iloc[0].to_dict()
    np.testing.assert_array_equal(model.predict(first), expected[:1])
    assert model.prepare(rows.to_numpy()).dtype == np.float64


def test_bad_inputs_name_the_column(tmp_path: Path, forest: Any, cancer: tuple[Any, Any]) -> None:
    frame, _ = cancer
    save_model(forest, tmp_path / "m", input_example=frame.head(3))
    model = load_model(tmp_path / "m")
    record = frame.iloc[0].to_dict()
    cases: list[tuple[Any, str]] = [
        ({k: v for k, v in record.items() if k != "mean area"}, "mean area"),
        ({**record, "mean area": "large"}, "mean area"),
        (frame.head(2).drop(columns=["worst symmetry"]), "worst symmetry"),
        (frame.head(2).to_numpy()[:, :29], "input"),
    ]
    for data, field in cases:
        with pytest.raises(InvalidArgumentError) as info:
            model.predict(data)
        assert info.value.details["field"] == field
        assert "expected" in info.value.details and "got" in info.value.details


def test_numpy_fitted_regressor_without_example(tmp_path: Path, diabetes: Any) -> None:
    from sklearn.linear_model import Ridge

    features, target = diabetes
    ridge = Ridge().fit(features, target)
    meta = save_model(ridge, tmp_path / "m")
    assert meta.signature is not None
    assert meta.signature.inputs == [ColumnSpec("input", "float64", (-1, 10))]
    assert (meta.has_proba, meta.classes, meta.input_example) == (False, None, None)
    model = load_model(tmp_path / "m")
    np.testing.assert_allclose(model.predict(features), ridge.predict(features))
    np.testing.assert_allclose(model.predict(features[0]), ridge.predict(features[:1]))
    with pytest.raises(InvalidArgumentError) as info:
        model.predict_proba(features)
    assert info.value.details["field"] == "method"


def test_pipeline_with_named_columns_and_text(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 120),
            "income": rng.normal(50, 10, 120),
            "city": rng.choice(["paris", "lyon", "nice"], 120),
        }
    )
    target = (frame["income"] + (frame["city"] == "paris") * 5 > 52).astype(int)
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["age", "income"]), ("cat", OneHotEncoder(), ["city"])]
    )
    pipe = make_pipeline(columns, LogisticRegression()).fit(frame, target)
    meta = save_model(pipe, tmp_path / "m", input_example=frame.head(5))
    assert meta.signature is not None
    assert [s.dtype for s in meta.signature.inputs] == ["int64", "float64", "string"]
    model = load_model(tmp_path / "m")
    expected = pipe.predict(frame.head(10))
    np.testing.assert_array_equal(model.predict(frame.head(10)), expected)
    np.testing.assert_array_equal(model.predict(frame.head(10).to_dict("records")), expected)
    for bad, field in (
        ({"age": 30.5, "income": 1.0, "city": "paris"}, "age"),
        ({"age": 30, "income": 1.0}, "city"),
    ):
        with pytest.raises(InvalidArgumentError) as info:
            model.predict(bad)
        assert info.value.details["field"] == field


def test_what_skops_cannot_hold_is_pickled_marked_and_needs_the_opt_in(
    tmp_path: Path, diabetes: Any
) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    features, target = diabetes
    pipe = make_pipeline(FunctionTransformer(lambda x: x * 2.0), LinearRegression())
    pipe.fit(features, target)
    meta = save_model(pipe, tmp_path / "m", input_example=features[:2])
    assert meta.pickled and (tmp_path / "m" / "model.pkl").is_file()
    assert json.loads((tmp_path / "m" / "modelplane.json").read_text())["pickled"] is True
    with pytest.raises(PermissionDeniedError) as info:
        load_model(tmp_path / "m")
    assert "allow_pickle=True" in info.value.message
    model = load_model(tmp_path / "m", allow_pickle=True)
    np.testing.assert_array_equal(model.predict(features[:5]), pipe.predict(features[:5]))


def test_save_and_load_errors(tmp_path: Path, forest: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        save_model(forest, tmp_path / "a", flavor="tensorflow")
    assert info.value.details["field"] == "flavor"
    assert "sklearn" in info.value.details["expected"]
    with pytest.raises(InvalidArgumentError) as info:
        save_model(object(), tmp_path / "b")
    assert info.value.details["field"] == "model"
    assert "python" in str(info.value)
    with pytest.raises(InvalidArgumentError):
        save_model(forest, tmp_path / "c", flavor="xgboost")
    with pytest.raises(InvalidArgumentError) as info:
        save_model(forest, tmp_path / "d", unknown_option=1)
    assert info.value.details["field"] == "unknown_option"
    save_model(forest, tmp_path / "e")
    with pytest.raises(AlreadyExistsError):
        save_model(forest, tmp_path / "e")
    with pytest.raises(NotFoundError):
        load_model(tmp_path / "nowhere")


def test_python_flavor_can_be_forced(tmp_path: Path, forest: Any, cancer: tuple[Any, Any]) -> None:
    frame, _ = cancer
    meta = save_model(forest, tmp_path / "m", input_example=frame.head(3), flavor="python")
    assert meta.flavor == "python" and meta.pickled
    model = load_model(tmp_path / "m", allow_pickle=True)
    np.testing.assert_array_equal(model.predict(frame.head(5)), forest.predict(frame.head(5)))


def test_example_columns_the_model_never_saw_are_not_required(
    tmp_path: Path, forest: Any, cancer: tuple[Any, Any]
) -> None:
    frame, _ = cancer
    example = frame.head(3).assign(customer_id=[7, 8, 9])
    meta = save_model(forest, tmp_path / "m", input_example=example)
    assert meta.signature is not None
    assert meta.signature.input_names == list(frame.columns)
    model = load_model(tmp_path / "m")
    np.testing.assert_array_equal(model.predict(frame.head(4)), forest.predict(frame.head(4)))


def test_non_string_column_labels_match_by_name(tmp_path: Path, diabetes: Any) -> None:
    from sklearn.linear_model import Ridge

    features, target = diabetes
    ridge = Ridge().fit(features, target)
    frame = pd.DataFrame(features[:3])  # columns 0..9
    save_model(ridge, tmp_path / "m", input_example=frame)
    model = load_model(tmp_path / "m")
    np.testing.assert_allclose(model.predict(frame), ridge.predict(features[:3]))
