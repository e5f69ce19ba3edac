"""Models for the serving tests: scikit-learn's breast_cancer, nothing downloaded."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def cancer() -> tuple[Any, Any]:
    """breast_cancer as (DataFrame of 30 float64 features, 0/1 target Series)."""
    datasets = pytest.importorskip("sklearn.datasets")
    pytest.importorskip("pandas")
    return datasets.load_breast_cancer(return_X_y=True, as_frame=True)


@pytest.fixture(scope="session")
def forest(cancer: tuple[Any, Any]) -> Any:
    ensemble = pytest.importorskip("sklearn.ensemble")
    frame, target = cancer
    return ensemble.RandomForestClassifier(n_estimators=10, random_state=0,
                                           n_jobs=2).fit(frame, target)
