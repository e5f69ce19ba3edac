"""The XGBoost and LightGBM flavors: scikit-learn wrappers and raw Boosters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.flavors import ColumnSpec, load_model, save_model

pytest.importorskip("pandas")


def _check_same_everywhere(model: Any, frame: Any, expected: Any) -> None:
    rows = frame.iloc[:8]
    for data in (rows, rows.to_numpy(), rows.to_dict("records"), rows.to_dict("list")):
        np.testing.assert_allclose(model.predict(data), expected, rtol=1e-6)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_classifier_wrapper_round_trip(
    tmp_path: Path, cancer: tuple[Any, Any], library: str
) -> None:
    lib = pytest.importorskip(library)
    frame, target = cancer
    if library == "xgboost":
        clf = lib.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1)
    else:
        clf = lib.LGBMClassifier(n_estimators=8, num_leaves=7, n_jobs=1, verbose=-1)
    clf.fit(frame, target)
    meta = save_model(clf, tmp_path / "m", input_example=frame.head(4))
    assert (meta.flavor, meta.has_proba, meta.classes) == (library, True, [0, 1])
    assert meta.signature is not None and meta.signature.inputs[0].name == "mean radius"
    model = load_model(tmp_path / "m")
    _check_same_everywhere(model, frame, clf.predict(frame.iloc[:8]))
    np.testing.assert_allclose(
        model.predict_proba(frame.iloc[:8]), clf.predict_proba(frame.iloc[:8]), rtol=1e-6
    )
    with pytest.raises(InvalidArgumentError) as info:
        model.predict({"mean radius": 1.0})
    assert info.value.details["field"] == "mean texture"


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_regressor_fitted_on_numpy(tmp_path: Path, diabetes: Any, library: str) -> None:
    lib = pytest.importorskip(library)
    features, target = diabetes
    if library == "xgboost":
        reg = lib.XGBRegressor(n_estimators=8, max_depth=3, n_jobs=1)
    else:
        reg = lib.LGBMRegressor(n_estimators=8, num_leaves=7, n_jobs=1, verbose=-1)
    reg.fit(features, target)
    meta = save_model(reg, tmp_path / "m")
    assert meta.signature is not None
    assert meta.signature.inputs == [ColumnSpec("input", "float64", (-1, 10))]
    model = load_model(tmp_path / "m")
    np.testing.assert_allclose(model.predict(features[:20]), reg.predict(features[:20]), rtol=1e-6)
    assert not model.has_proba


def test_xgboost_booster(tmp_path: Path, cancer: tuple[Any, Any]) -> None:
    xgb = pytest.importorskip("xgboost")
    frame, target = cancer
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(frame, label=target), num_boost_round=5)
    meta = save_model(booster, tmp_path / "m", input_example=frame.head(2))
    assert (meta.flavor, meta.extra["wrapper"]) == ("xgboost", "Booster")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.ubj", "modelplane.json"]
    model = load_model(tmp_path / "m")
    expected = booster.predict(xgb.DMatrix(frame.iloc[:8]))
    _check_same_everywhere(model, frame, expected)


def test_lightgbm_booster(tmp_path: Path, cancer: tuple[Any, Any]) -> None:
    lgb = pytest.importorskip("lightgbm")
    frame, target = cancer
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(frame, label=target), num_boost_round=5)
    meta = save_model(booster, tmp_path / "m")
    assert meta.signature is not None and meta.signature.inputs[0].name == "mean_radius"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.txt", "modelplane.json"]
    model = load_model(tmp_path / "m")
    expected = booster.predict(frame.iloc[:8].to_numpy())
    np.testing.assert_allclose(model.predict(frame.iloc[:8].to_numpy()), expected, rtol=1e-6)
