"""``/api/v1/pipelines``: runs, lineage, schedules and triggers over HTTP (in process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import modelplane as mp
from tests.unit.pipelines import flows

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    from fastapi.testclient import TestClient

    from modelplane.server.app import create_app

    monkeypatch.chdir(ROOT)
    with TestClient(create_app(mp.get_settings())) as client:
        yield client


def test_runs_lineage_schedules_and_triggers(api: TestClient) -> None:
    run = flows.gated.run()
    assert run.status == "succeeded", run.error
    listed = api.get("/api/v1/pipelines/runs", params={"pipeline": "gated"}).json()
    assert [r["id"] for r in listed] == [run.id]
    shown = api.get(f"/api/v1/pipelines/runs/{run.id}").json()
    assert [s["status"] for s in shown["steps"]] == ["succeeded"] * 3
    assert shown["steps"][0]["outputs"]["train"]["kind"] == "dataframe"
    lineage = api.get("/api/v1/pipelines/models/gated-model/versions/1/lineage").json()
    assert lineage["pipeline_run_id"] == run.id and len(lineage["datasets"]) == 2
    assert api.get(f"/api/v1/pipelines/runs/{run.id}/lineage").json()["steps"][-1][
        "model_versions"] == ["models:/gated-model:1"]

    made = api.post("/api/v1/pipelines/schedules",
                    json={"pipeline": "gated", "cron": "0 3 * * *", "params": {"C": 0.5}})
    assert made.status_code == 201, made.text
    assert api.get("/api/v1/pipelines/schedules").json()[0]["cron"] == "0 3 * * *"
    bad = api.post("/api/v1/pipelines/schedules", json={"pipeline": "gated", "cron": "nope"})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "cron"
    queued = api.post("/api/v1/pipelines/triggers",
                      json={"pipeline": "gated", "params": {"C": 2.0}, "reason": "drift"})
    assert queued.status_code == 201 and queued.json()["status"] == "pending"
    unknown = api.post("/api/v1/pipelines/triggers", json={"pipeline": "gated",
                                                           "params": {"D": 1}})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"]["field"] == "D"
    assert api.get("/api/v1/pipelines/runs/nope").status_code == 404
    assert api.delete("/api/v1/pipelines/schedules/gated").status_code == 204
