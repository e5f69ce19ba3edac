"""A monitoring service on SQLite in tmp_path, and a helper that logs predictions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelplane.monitoring.service import MonitoringService


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MonitoringService]:
    from modelplane.monitoring.sql import SqlPredictionStore, SqlReferenceStore, SqlRuleStore
    from modelplane.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    svc = MonitoringService(SqlPredictionStore(db), SqlReferenceStore(db), SqlRuleStore(db))
    yield svc
    svc.close()
    db.dispose()


def log(service: MonitoringService, n: int, *, errors: int = 0, x: float = 0.0) -> None:
    rng = np.random.default_rng(n)
    now = time.time()
    service.log_predictions([
        {"request_id": f"r{i}-{now}", "model": "m", "version": 1, "time": now,
         "inputs": {"x": float(rng.normal(x))}, "outputs": 1, "latency_s": 0.01,
         "status": "error" if i < errors else "ok"} for i in range(n)])
