"""The ONNX flavor and the checked scikit-learn -> ONNX conversion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core.errors import ConfigurationError, InvalidArgumentError, InvalidStateError
from modelplane.flavors import ColumnSpec, convert_sklearn_to_onnx, load_model, save_model

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("skl2onnx")
pd = pytest.importorskip("pandas")


def _doubling_graph() -> Any:
    """A generic graph: y = 2 * x for x of shape [batch, 3]."""
    from onnx import TensorProto, helper

    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["y"])],
        "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[two],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("form", ["proto", "bytes", "path"])
def test_generic_graph_from_proto_bytes_or_path(tmp_path: Path, form: str) -> None:
    proto = _doubling_graph()
    source: Any = {"proto": proto, "bytes": proto.SerializeToString(), "path": None}[form]
    if form == "path":
        source = tmp_path / "double.onnx"
        onnx.save(proto, str(source))
    meta = save_model(source, tmp_path / "m")
    assert (meta.flavor, meta.has_proba, meta.extra["feed"]) == ("onnx", False, "tensor")
    assert meta.signature is not None
    assert meta.signature.inputs == [ColumnSpec("x", "float32", (-1, 3))]
    model = load_model(tmp_path / "m")
    np.testing.assert_array_equal(model.predict([[1, 2, 3]]), [[2.0, 4.0, 6.0]])
    with pytest.raises(InvalidArgumentError) as info:
        model.predict([[1, 2]])
    assert info.value.details["field"] == "x"


def test_classifier_conversion_agrees(tmp_path: Path, forest: Any, cancer: tuple[Any, Any]) -> None:
    frame, _ = cancer
    meta = convert_sklearn_to_onnx(forest, frame.head(50), tmp_path / "m")
    assert (meta.flavor, meta.has_proba, meta.classes) == ("onnx", True, [0, 1])
    assert meta.extra["feed"] == "stack"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.onnx", "modelplane.json"]
    model = load_model(tmp_path / "m")
    rows = frame.iloc[:40]
    expected = forest.predict(rows)
    for data in (rows, rows.to_numpy(), rows.to_dict("records"), rows.to_dict("list")):
        np.testing.assert_array_equal(model.predict(data), expected)
    np.testing.assert_allclose(model.predict_proba(rows), forest.predict_proba(rows), atol=1e-6)
    with pytest.raises(InvalidArgumentError) as info:
        model.predict({**rows.iloc[0].to_dict(), "mean radius": "big"})
    assert info.value.details["field"] == "mean radius"


def test_regressor_conversion_returns_1d(tmp_path: Path, diabetes: Any) -> None:
    from sklearn.linear_model import LinearRegression

    features, target = diabetes
    reg = LinearRegression().fit(features, target)
    meta = convert_sklearn_to_onnx(reg, features[:30], tmp_path / "m")
    assert meta.signature is not None and meta.signature.outputs[0].shape == (-1,)
    model = load_model(tmp_path / "m")
    out = model.predict(features[:30])
    assert out.shape == (30,)
    np.testing.assert_allclose(out, reg.predict(features[:30]), rtol=1e-4)
    assert not model.has_proba


def test_string_labels_and_text_columns(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"income": rng.normal(50, 10, 150), "city": rng.choice(["paris", "lyon"], 150)}
    )
    labels = np.where(frame["income"] + (frame["city"] == "paris") * 8 > 54, "yes", "no")
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["income"]), ("cat", OneHotEncoder(), ["city"])]
    )
    pipe = make_pipeline(columns, LogisticRegression()).fit(frame, labels)
    meta = convert_sklearn_to_onnx(pipe, frame.head(60), tmp_path / "m")
    assert (meta.extra["feed"], meta.classes) == ("columns", ["no", "yes"])
    model = load_model(tmp_path / "m")
    np.testing.assert_array_equal(model.predict(frame.head(20)), pipe.predict(frame.head(20)))
    record = {"income": 70, "city": "paris"}
    assert model.predict(record).tolist() == pipe.predict(pd.DataFrame([record])).tolist()


def test_unsupported_model_and_missing_example(tmp_path: Path, diabetes: Any) -> None:
    from sklearn.base import BaseEstimator, RegressorMixin

    class Median(RegressorMixin, BaseEstimator):  # type: ignore[misc]
        def fit(self, x: Any, y: Any) -> Median:
            self.value_ = float(np.median(y))
            self.n_features_in_ = x.shape[1]
            return self

        def predict(self, x: Any) -> Any:
            return np.full(len(x), self.value_)

    features, target = diabetes
    with pytest.raises(InvalidArgumentError) as info:
        convert_sklearn_to_onnx(Median().fit(features, target), features[:5], tmp_path / "a")
    assert info.value.details["field"] == "model"
    with pytest.raises(InvalidArgumentError) as info:
        convert_sklearn_to_onnx(Median().fit(features, target), None, tmp_path / "b")
    assert info.value.details["field"] == "input_example"


def test_disagreeing_graph_is_refused(
    tmp_path: Path, forest: Any, cancer: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    from modelplane.flavors import convert

    frame, target = cancer
    flipped = RandomForestClassifier(n_estimators=10, random_state=0).fit(frame, 1 - target)
    real_convert = convert._convert
    monkeypatch.setattr(
        convert, "_convert", lambda model, sig, clf, *rest: real_convert(flipped, sig, clf, *rest)
    )
    with pytest.raises(InvalidStateError) as info:
        convert_sklearn_to_onnx(forest, frame.head(30), tmp_path / "m")
    assert info.value.details["field"] == "predictions"
    assert not (tmp_path / "m").exists()
    with pytest.raises(Exception, match="no saved model"):
        load_model(tmp_path / "m")


def test_thread_settings(tmp_path: Path, diabetes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LinearRegression

    features, target = diabetes
    convert_sklearn_to_onnx(LinearRegression().fit(features, target), features[:5], tmp_path / "m")
    monkeypatch.setenv("MODELPLANE_ONNX_THREADS", "2")
    assert load_model(tmp_path / "m").raw.get_session_options().intra_op_num_threads == 2
    assert load_model(tmp_path / "m", threads=1).predict(features[:2]).shape == (2,)
    monkeypatch.setenv("MODELPLANE_ONNX_THREADS", "many")
    with pytest.raises(ConfigurationError) as info:
        load_model(tmp_path / "m")
    assert info.value.details["field"] == "MODELPLANE_ONNX_THREADS"
    with pytest.raises(InvalidArgumentError) as info:
        load_model(tmp_path / "m", threads=-1)
    assert info.value.details["field"] == "threads"
