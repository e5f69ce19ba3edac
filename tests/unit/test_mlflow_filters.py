"""MLflow's search syntax translated onto modelplane's filter language
(``server/mlflow/filters.py``): every operator, MLflow's quoting and attribute names,
enum values, ordering, and errors answered as MLflow's ``INVALID_PARAMETER_VALUE`` 400
(unsupported fields as ``NOT_IMPLEMENTED`` 501) over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.server.mlflow import filters
from modelplane.server.mlflow.errors import NotSupportedError
from modelplane.tracking.entities import Experiment

RUNS = [
    ("metrics.acc = 0.5", "metrics.acc = 0.5"),
    ("metrics.acc != 0.5", "metrics.acc != 0.5"),
    ("metrics.acc > 0.9", "metrics.acc > 0.9"),
    ("metrics.acc >= 0.9", "metrics.acc >= 0.9"),
    ("metrics.acc < 1", "metrics.acc < 1"),
    ("metrics.acc <= 1e-3", "metrics.acc <= 0.001"),
    ("params.C = '1'", "params.C = '1'"),
    ("params.C != '1'", "params.C != '1'"),
    ("tags.team LIKE 'ri%'", "tags.team like 'ri%'"),
    ("tags.team ILIKE 'RI_K'", "tags.team ilike 'RI_K'"),
    ("params.C IN ('1', '2')", "params.C in ('1', '2')"),
    ("params.C NOT IN ('1')", "params.C not in ('1')"),
    ("tags.x IS NULL", "tags.x is null"),
    ("tags.x IS NOT NULL", "tags.x is not null"),
    ("metrics.acc > 0.9 AND params.C = '1'", "metrics.acc > 0.9 and params.C = '1'"),
    ("params.C = '1' OR params.C = '2'", "params.C = '1' or params.C = '2'"),
    # quoting: backquoted and double-quoted keys, double-quoted and escaped values
    ("metrics.`my metric` > 1", "metrics.`my metric` > 1"),
    ('metrics."my metric" > 1', "metrics.`my metric` > 1"),
    ('params.solver = "lbfgs"', "params.solver = 'lbfgs'"),
    ("params.s = 'it''s'", "params.s = 'it''s'"),
    # MLflow's names for attributes and its prefix aliases
    ("attributes.run_name = 'x'", "name = 'x'"),
    ("run_name = 'x'", "name = 'x'"),
    ("run.run_name = 'x'", "name = 'x'"),
    ("tags.`mlflow.runName` = 'x'", "name = 'x'"),
    ("tags.`mlflow.user` = 'bob'", "user = 'bob'"),
    ("attributes.user_id = 'bob'", "user = 'bob'"),
    ("attributes.run_id IN ('a', 'b')", "id in ('a', 'b')"),
    ("attributes.lifecycle_stage = 'deleted'", "lifecycle = 'deleted'"),
    ("parameter.C = '1'", "params.C = '1'"),
    ("parameters.C = '1'", "params.C = '1'"),
    ("attributes.start_time > 1700000000000", "start_time > '2023-11-14T22:13:20+00:00'"),
    ("attributes.created > 1700000000000", "start_time > '2023-11-14T22:13:20+00:00'"),
    ("attributes.end_time <= 1700000000000", "end_time <= '2023-11-14T22:13:20+00:00'"),
    # MLflow's upper-case statuses become modelplane's
    ("attributes.status = 'FINISHED'", "status = 'finished'"),
    ("status IN ('FAILED', 'KILLED')", "status in ('failed', 'killed')"),
    ("status = 'SCHEDULED'", "status = 'running'"),
    ("status LIKE 'FIN%'", "status like 'FIN%'"),
]


@pytest.mark.parametrize(("mlflow", "ours"), RUNS)
def test_run_filter(mlflow: str, ours: str) -> None:
    assert filters.run_filter(mlflow) == ours


def test_empty_filters_are_no_filter() -> None:
    assert filters.run_filter(None) == filters.run_filter("") == ""
    assert filters.model_filter("  ") == filters.version_filter(None) == ""


@pytest.mark.parametrize(("mlflow", "ours"), [
    ("name = 'a'", "name = 'a'"),
    ("name LIKE 'iris%'", "name like 'iris%'"),
    ("name ILIKE '%IRIS%'", "name ilike '%IRIS%'"),
    ("tags.owner = 'ml'", "tags.owner = 'ml'"),
    # MLflow counts a model without the tag as unequal (how it leaves prompts out)
    ("tags.`mlflow.prompt.is_prompt` != 'true'",
     "tags.mlflow.prompt.is_prompt != 'true' or tags.mlflow.prompt.is_prompt is null"),
    ("creation_timestamp > 5", "created_at > '1970-01-01T00:00:00.005000+00:00'"),
    ("last_updated_timestamp < 5", "updated_at < '1970-01-01T00:00:00.005000+00:00'"),
])
def test_model_filter(mlflow: str, ours: str) -> None:
    assert filters.model_filter(mlflow) == ours


@pytest.mark.parametrize(("mlflow", "ours"), [
    ("name = 'a' AND version_number > 1", "name = 'a' and version > 1"),
    ("current_stage = 'Production'", "stage = 'production'"),
    ("current_stage IN ('Staging', 'None')", "stage in ('staging', 'development')"),
    ("current_stage = 'archived'", "stage = 'archived'"),
    ("run_id = 'r1'", "run_id = 'r1'"),
    ("tags.x NOT IN ('a')", "tags.x not in ('a') or tags.x is null"),
])
def test_version_filter(mlflow: str, ours: str) -> None:
    assert filters.version_filter(mlflow) == ours


def test_order_by() -> None:
    assert filters.run_order(["metrics.acc DESC", "attributes.start_time", "params.C asc",
                              "tags.`mlflow.runName`", "run_name desc"]) == \
        "metrics.acc desc, start_time asc, params.C asc, name asc, name desc"
    assert filters.version_order(["version_number DESC", "creation_timestamp"]) == \
        "version desc, created_at asc"
    assert filters.model_order(["name DESC", "last_updated_timestamp"]) == \
        [("name", True), ("updated_at", False)]
    assert filters.model_order(None) == [("name", False)]
    assert filters.experiment_sort_key(None) == [("creation_time", True),
                                                 ("experiment_id", False)]


@pytest.mark.parametrize(("bad", "says"), [
    ("metrics.acc >> 1", "expected a value"),
    ("metrics.acc > 'a'", "expected a number"),
    ("foo.bar = 1", "unknown field prefix 'foo'"),
    ("attributes.nope = 1", "unknown attribute 'nope'"),
    ("metrics.acc", "expected a comparison operator"),
    ("params.C = 'unterminated", "unterminated string"),
    ("params.C = '1' AND", "end of the input"),
    ("status = 'WEIRD'", "'WEIRD' for status"),
])
def test_bad_run_filters_are_invalid_argument(bad: str, says: str) -> None:
    with pytest.raises(InvalidArgumentError, match=says):
        filters.run_filter(bad)


def test_bad_values_and_orders_elsewhere() -> None:
    with pytest.raises(InvalidArgumentError, match="'bogus' for current_stage"):
        filters.version_filter("current_stage = 'bogus'")
    with pytest.raises(InvalidArgumentError, match="unknown attribute 'stage'"):
        filters.model_filter("stage = 'x'")
    with pytest.raises(InvalidArgumentError):
        filters.run_order(["metrics.acc sideways"])


@pytest.mark.parametrize("unsupported", ["datasets.name = 'x'",
                                         "attributes.artifact_uri = 'x'"])
def test_unsupported_run_fields(unsupported: str) -> None:
    with pytest.raises(NotSupportedError, match="not supported"):
        filters.run_filter(unsupported)


def test_source_path_is_unsupported() -> None:
    with pytest.raises(NotSupportedError):
        filters.version_filter("source_path = 'x'")


def _experiment(name: str, tags: dict[str, str], day: int) -> Experiment:
    when = datetime(2026, 1, day, tzinfo=UTC)
    return Experiment(id=f"e{day}", name=name, description="", tags=tags, lifecycle="active",
                      created_at=when, updated_at=when)


def test_experiment_filters_evaluate_on_records() -> None:
    found = [_experiment("churn", {"team": "risk"}, 1), _experiment("Churn-v2", {}, 2),
             _experiment("fraud", {"team": "ops"}, 3)]

    def names(text: str) -> list[str]:
        match = filters.experiment_matches(text)
        return [e.name for e in found if match(e)]

    assert names("name = 'churn'") == ["churn"]
    assert names("name != 'churn'") == ["Churn-v2", "fraud"]
    assert names("name LIKE 'churn%'") == ["churn"]
    assert names("name ILIKE 'churn%'") == ["churn", "Churn-v2"]
    assert names("tags.team = 'risk' OR tags.team = 'ops'") == ["churn", "fraud"]
    assert names("tags.team IS NULL") == ["Churn-v2"]
    assert names("tags.team IN ('ops')") == ["fraud"]
    assert names("tags.team NOT IN ('ops')") == ["churn"]
    assert names("creation_time > 1767312000000") == ["fraud"]  # 2026-01-02
    assert names("creation_time >= 1767312000000") == ["Churn-v2", "fraud"]
    assert names("experiment_id = 'e1'") == ["churn"]
    assert names("") == ["churn", "Churn-v2", "fraud"]
    with pytest.raises(InvalidArgumentError):
        names("tags.team ~ 'x'")


# -- over HTTP: MLflow's error format ----------------------------------------------------
_TESTCLIENT = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def http() -> Iterator[Any]:
    from fastapi.testclient import TestClient

    import modelplane as mp
    from modelplane.server.app import create_app

    with TestClient(create_app(mp.get_settings())) as client:
        yield client


@_TESTCLIENT
@pytest.mark.parametrize(("path", "body"), [
    ("/api/2.0/mlflow/runs/search", {"filter": "metrics.acc >> 1"}),
    ("/api/2.0/mlflow/runs/search", {"filter": "attributes.nope = 'x'"}),
    ("/api/2.0/mlflow/runs/search", {"filter": "status = 'WEIRD'"}),
    ("/api/2.0/mlflow/runs/search", {"order_by": ["metrics.acc sideways"]}),
    ("/api/2.0/mlflow/experiments/search", {"filter": "name = "}),
])
def test_bad_filters_answer_invalid_parameter_value(http: Any, path: str,
                                                    body: dict[str, object]) -> None:
    answer = http.post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert answer.json()["message"]


@_TESTCLIENT
@pytest.mark.parametrize("path", ["/api/2.0/mlflow/registered-models/search",
                                  "/api/2.0/mlflow/model-versions/search"])
def test_bad_registry_filters_over_http(http: Any, path: str) -> None:
    answer = http.get(path, params={"filter": "name = 'a' and"})
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad_stage = http.get("/api/2.0/mlflow/model-versions/search",
                         params={"filter": "current_stage = 'bogus'"})
    assert bad_stage.status_code == 400
    assert "current_stage" in bad_stage.json()["message"]


@_TESTCLIENT
def test_unsupported_filter_field_is_not_implemented(http: Any) -> None:
    answer = http.post("/api/2.0/mlflow/runs/search", json={"filter": "datasets.name = 'x'"})
    assert answer.status_code == 501
    assert answer.json()["error_code"] == "NOT_IMPLEMENTED"
