"""A served model with ``MODELPLANE_PREDICTION_LOG_STORAGE=parquet``: its predictions reach
Parquet files (not the database), and health, labels and performance work over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import LiveServer

# these tests serve python-flavor models they define: pickles, loaded under the opt-in
pytestmark = pytest.mark.usefixtures("trust_pickles")

API = "/api/v1/monitoring"


def _sign() -> Any:
    class Sign:  # defined in a function: pickled by value, loads in the server
        def predict(self, x: Any) -> Any:
            return (np.asarray(x["x"], dtype=float) > 0).astype(int)

    return Sign()


def test_served_predictions_labels_and_performance_with_the_log_in_parquet(
        start_server: Callable[..., LiveServer], mp_home: Path) -> None:
    from sqlalchemy import func, select

    from modelplane.client import Client
    from modelplane.store.tables_monitoring import monitoring_predictions

    client = Client()
    client.log_model(None, _sign(), "sign", input_example=pd.DataFrame({"x": [1.0]}),
                     stage="production")
    server = start_server("--serve", "models:/sign@production",
                          env={"MODELPLANE_PREDICTION_LOG_STORAGE": "parquet"})
    with server.client() as http:
        deadline = time.monotonic() + 30
        while http.get("/v2/models/sign/ready").status_code != 200:
            assert time.monotonic() < deadline, "the model did not load in 30 s"
            time.sleep(0.1)
        for i in range(30):
            r = http.post("/predict/sign", json={"x": i - 14.5},
                          headers={"x-request-id": f"s-{i}"})
            assert r.status_code == 200 and r.json()["predictions"] == [int(i > 14)]
        deadline = time.monotonic() + 20  # the log is written off the request path
        while time.monotonic() < deadline:
            health = http.get(f"{API}/sign/health").json()
            if health["overall"]["requests"] >= 30:
                break
            time.sleep(0.2)
        assert health["overall"]["requests"] == 30
        # the 20 oldest labelled wrong, the 10 newest right
        labels = [{"request_id": f"s-{i}", "label": int(i > 14) if i >= 20 else int(i <= 14)}
                  for i in range(30)]
        r = http.post(f"{API}/sign/labels", json={"labels": labels})
        assert r.json() == {"accepted": 30, "unknown": 0, "unknown_request_ids": []}
        perf = http.get(f"{API}/sign/performance", params={"window": "1h"}).json()
        assert perf["overall"]["labelled"] == 30 and perf["overall"]["predictions"] == 30
        assert perf["overall"]["metrics"]["accuracy"] == 10 / 30
        newest = http.get(f"{API}/sign/performance", params={"window": "10p"}).json()
        assert newest["overall"]["predictions"] == 10
        assert newest["overall"]["metrics"]["accuracy"] == 1.0

    log = mp_home / "artifacts" / "monitoring" / "predictions" / "model=sign"
    assert [p.parent.name[:5] for p in log.rglob("part-*.parquet")][:1] == ["date="]
    with client.database.connection_scope(readonly=True) as conn:
        assert conn.execute(select(func.count()).select_from(monitoring_predictions)
                            ).scalar() == 0
