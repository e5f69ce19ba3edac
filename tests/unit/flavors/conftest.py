"""Small data sets for the flavor tests: scikit-learn's bundled ones, nothing downloaded."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def cancer() -> tuple[Any, Any]:
    """breast_cancer as (DataFrame of 30 float64 features, 0/1 target Series)."""
    datasets = pytest.importorskip("sklearn.datasets")
    pytest.importorskip("pandas")
    frame, target = datasets.load_breast_cancer(return_X_y=True, as_frame=True)
    return frame, target


@pytest.fixture(scope="session")
def diabetes() -> tuple[Any, Any]:
    """diabetes as (float64 ndarray of 10 features, float64 target)."""
    datasets = pytest.importorskip("sklearn.datasets")
    return datasets.load_diabetes(return_X_y=True)


@pytest.fixture(scope="session")
def forest(cancer: tuple[Any, Any]) -> Any:
    """A small RandomForestClassifier fitted on the breast_cancer DataFrame."""
    ensemble = pytest.importorskip("sklearn.ensemble")
    frame, target = cancer
    return ensemble.RandomForestClassifier(n_estimators=10, random_state=0).fit(frame, target)
