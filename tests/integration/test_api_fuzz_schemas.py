"""No 5xx for any request: Hypothesis draws path, query and JSON body values for every
operation of the OpenAPI document from its schemas, mixed with the values that broke
servers before (integers past 64 bits, absurd timestamps, nulls, NUL bytes, huge strings,
wrong types), against an app with a run, a model version and an experiment to reach past
the not-found checks. ``test_api_fuzz.py`` covers hostile paths and malformed bodies;
this covers well-formed JSON with hostile values inside. ``MODELPLANE_FUZZ_EXAMPLES``
sets the examples per operation (default 6)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.openapi_fuzz import Operation, operations, request_for

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]
EXAMPLES = int(os.environ.get("MODELPLANE_FUZZ_EXAMPLES", "6"))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, list[str]]]]:
    import numpy as np
    from fastapi.testclient import TestClient
    from sklearn.linear_model import LogisticRegression

    from modelplane.client import Client
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    home: Path = tmp_path_factory.mktemp("fuzz-schemas") / "home"
    config = Settings(home=home, prediction_log_process=False)
    client = Client(config)
    run = client.tracking.start_run("exp1")
    client.tracking.log_metrics(run.id, {"auc": 0.9}, step=1)
    x = np.random.default_rng(0).random((20, 3))
    client.log_model(run.id, LogisticRegression().fit(x, x[:, 0] > 0.5), "m1",
                     input_example=x[:2])
    known = {"name": ["m1", "exp1"], "model": ["m1"], "run_id": [run.id], "version": ["1"],
             "id_or_name": ["exp1"], "key": ["auc"], "alias": ["champion"]}
    with TestClient(create_app(config), raise_server_exceptions=False) as http:
        yield http, known


def test_no_request_drawn_from_the_schemas_gets_a_5xx(app: Any) -> None:
    http, known = app
    spec = http.app.openapi()
    failures: list[str] = []

    def check(op: Operation) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(request_for(spec, op, known))
        def one(kwargs: dict[str, Any]) -> None:
            response = http.request(**kwargs)
            # 501: an MLflow call modelplane does not implement, said so on purpose
            if response.status_code >= 500 and response.status_code != 501:
                failures.append(f"{op.id}: {str(kwargs)[:300]} -> {response.status_code} "
                                f"{response.text[:200]}")

        one()

    ops = operations(spec)
    assert len(ops) > 150
    for op in ops:
        check(op)
    assert not failures, "\n".join(failures[:20])
