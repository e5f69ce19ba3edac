"""The feature store over real HTTP (``modelplane server``) and through the ``modelplane
features`` command."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from modelplane.features import Entity, FeatureService, FeatureStore, FeatureView, Field, Float64
from tests.integration.conftest import LiveServer, cli

NOW = datetime.now(UTC).replace(microsecond=0)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "feature_repo"


def _apply_and_materialize() -> None:
    t = pd.Timestamp(NOW)
    frame = pd.DataFrame({"driver_id": [1, 2, 3], "event_timestamp": [t, t, t - pd.Timedelta(
        hours=5)], "conv_rate": [0.5, float("nan"), 0.9], "trips": [10.0, 20.0, 30.0]})
    driver = Entity("driver", join_keys=["driver_id"])
    view = FeatureView("driver_stats", entities=[driver], source=frame, ttl=timedelta(hours=1),
                       schema=[Field("conv_rate", Float64), Field("trips", Float64)])
    store = FeatureStore()
    store.apply([view, FeatureService("ranker", [view])])
    store.materialize(NOW - timedelta(days=1), NOW)
    store.close()


def test_online_reads_and_definitions_over_http(start_server: Callable[..., LiveServer]
                                                ) -> None:
    _apply_and_materialize()
    server = start_server()
    with server.client() as http:
        body = {"features": ["driver_stats:conv_rate", "driver_stats:trips"],
                "entities": {"driver_id": [1, 2, 3, 4]}}
        got = http.post("/api/v1/features/online", json=body)
        assert got.status_code == 200, got.text
        out = got.json()
        assert out["entities"] == {"driver_id": [1, 2, 3, 4]}
        trips = out["features"]["trips"]
        assert trips["values"] == [10.0, 20.0, None, None]
        assert trips["statuses"] == ["present", "present", "expired", "missing"]
        assert trips["event_timestamps"][0].startswith(NOW.strftime("%Y-%m-%dT%H:%M:%S"))
        assert out["features"]["conv_rate"]["values"][:2] == [0.5, None]  # NaN -> null
        by_service = http.post("/api/v1/features/online", json={
            "service": "ranker", "entities": {"driver_id": [1]}, "full_feature_names": True})
        assert list(by_service.json()["features"]) == ["driver_stats__conv_rate",
                                                       "driver_stats__trips"]

        unknown = http.post("/api/v1/features/online", json={
            "features": ["driver_stat:trips"], "entities": {"driver_id": [1]}})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["details"]["suggestions"] == ["driver_stats"]
        no_key = http.post("/api/v1/features/online", json={
            "features": ["driver_stats:trips"], "entities": {"driver": [1]}})
        assert no_key.status_code == 422 and "driver_id" in no_key.json()["error"]["message"]

        pushed = http.post("/api/v1/features/views/driver_stats/push", json={"columns": {
            "driver_id": [4], "event_timestamp": [NOW.isoformat()], "conv_rate": [0.1],
            "trips": [1]}})
        assert pushed.status_code == 200, pushed.text
        assert http.post("/api/v1/features/online", json={
            "features": ["driver_stats:trips"], "entities": {"driver_id": [4]}}
        ).json()["features"]["trips"]["values"] == [1.0]
        bad_push = http.post("/api/v1/features/views/driver_stats/push", json={"columns": {
            "driver_id": [5], "event_timestamp": [NOW.isoformat()], "conv_rate": ["x"],
            "trips": [1]}})
        assert bad_push.status_code == 422 and "conv_rate" in bad_push.json()["error"]["message"]

        views = http.get("/api/v1/features/views").json()
        assert [(v["name"], v["version"], v["join_keys"]) for v in views] == [
            ("driver_stats", 1, ["driver_id"])]
        detail = http.get("/api/v1/features/views/driver_stats").json()
        assert detail["watermark"] and detail["materializations"][0]["kind"] == "push"
        assert http.get("/api/v1/features/services/ranker").json()["features"] == [
            "driver_stats:conv_rate", "driver_stats:trips"]
        assert http.get("/api/v1/features/entities").json()[0]["name"] == "driver"
        assert http.get("/api/v1/features/views/nope").status_code == 404


@pytest.mark.slow
def test_cli_plan_apply_materialize_get_online(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    plan = cli("features", "plan", str(repo), "--json")
    assert plan.returncode == 0, plan.stderr
    assert {c["name"]: c["action"] for c in json.loads(plan.stdout)["changes"]} == {
        "driver": "create", "driver_hourly_stats": "create", "driver_profile": "create",
        "trip_scores": "create", "driver_ranking": "create"}
    assert cli("features", "apply", str(repo)).returncode == 0
    assert "no changes" in cli("features", "plan", str(repo)).stdout
    done = cli("features", "materialize-incremental", "--json")
    assert done.returncode == 0, done.stderr
    assert [r["rows"] for r in json.loads(done.stdout)] == [50, 50]
    profile = cli("features", "get-online", "-f", "driver_profile:embedding", "-f",
                  "driver_profile:home_zones", "-f", "driver_profile:avatar", "-e",
                  "driver_id=1001", "--json")
    assert profile.returncode == 0, profile.stderr
    values = {k: v["values"][0] for k, v in json.loads(profile.stdout)["features"].items()}
    assert len(values["embedding"]) == 8 and values["home_zones"]
    assert len(base64.b64decode(values["avatar"])) == 16
    online = cli("features", "get-online", "-s", "driver_ranking", "-e", "driver_id=1001,7",
                 "-e", "trip_km=2,3", "--json")
    assert online.returncode == 0, online.stderr
    features = json.loads(online.stdout)["features"]
    assert features["score_per_km"]["statuses"] == ["present", "missing"]
    assert features["expected_completion"]["values"][0] == pytest.approx(
        features["conv_rate"]["values"][0] * features["acc_rate"]["values"][0])
    shown = cli("features", "show", "driver_hourly_stats")
    assert shown.returncode == 0 and "statistics of the last materialization" in shown.stdout
    assert cli("features", "validate", "driver_hourly_stats").returncode == 0
    listed = cli("features", "list")
    assert "driver_ranking" in listed.stdout and "on demand" in listed.stdout
    bad = cli("features", "get-online", "-f", "driver_hourly_stat:conv_rate", "-e",
              "driver_id=1")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: feature view 'driver_hourly_stat' not found; did you mean "
        "'driver_hourly_stats', 'driver_profile'?"]
    missing = cli("features", "apply", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


@pytest.mark.slow
def test_cli_apply_removes_what_the_repo_no_longer_declares(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    assert cli("features", "apply", str(repo)).returncode == 0
    source = repo / "driver_repo.py"
    text = source.read_text()
    source.write_text(text[:text.index("driver_ranking = FeatureService(")])
    plan = cli("features", "plan", str(repo))
    assert plan.returncode == 0, plan.stderr
    line = next(line for line in plan.stdout.splitlines() if "driver_ranking" in line)
    assert [cell.strip() for cell in line.split("│")[1:5]] == [
        "-", "service", "driver_ranking", "remove v1"]
    kept = cli("features", "apply", str(repo), "--no-prune", "--json")
    assert not json.loads(kept.stdout)["has_changes"]
    assert "driver_ranking" in cli("features", "list").stdout
    applied = cli("features", "apply", str(repo), "--json")
    assert [(c["name"], c["action"]) for c in json.loads(applied.stdout)["changes"]
            if c["action"] != "unchanged"] == [("driver_ranking", "remove")]
    assert "driver_ranking" not in cli("features", "list").stdout
    gone = cli("features", "get-online", "-s", "driver_ranking", "-e", "driver_id=1001")
    assert gone.returncode == 1
    assert gone.stderr.strip().splitlines() == [
        "error: feature service 'driver_ranking' was removed on "
        f"{gone.stderr.split(' removed on ')[1][:16]} UTC (the feature repo no longer declares "
        "it); its versions stay readable by number (the newest is 1)"]


def test_list_and_bytes_features_over_http(start_server: Callable[..., LiveServer]) -> None:
    import base64

    from modelplane.features import Array, Bytes, Float32, String

    t = pd.Timestamp(NOW)
    frame = pd.DataFrame({"driver_id": [1], "event_timestamp": [t],
                          "embedding": [[0.5, 1.5]], "tags": [["a", "b"]],
                          "blob": [b"\x00\x01"]})
    view = FeatureView("rich", entities=[Entity("driver", join_keys=["driver_id"])],
                       source=frame, schema=[Field("embedding", Array(Float32)),
                                             Field("tags", Array(String)), Field("blob", Bytes)])
    store = FeatureStore()
    store.apply([view])
    store.materialize(NOW - timedelta(days=1), NOW)
    store.close()
    features = ["rich:embedding", "rich:tags", "rich:blob"]
    with start_server().client() as http:
        pushed = http.post("/api/v1/features/views/rich/push", json={"columns": {
            "driver_id": [2], "event_timestamp": [NOW.isoformat()], "embedding": [[1, 2]],
            "tags": [[]], "blob": [base64.b64encode(b"\xff\xfe").decode()]}})
        assert pushed.status_code == 200, pushed.text
        got = http.post("/api/v1/features/online", json={
            "features": features, "entities": {"driver_id": [1, 2, 3]}})
        assert got.status_code == 200, got.text
        out = got.json()["features"]
        assert out["embedding"]["values"] == [[0.5, 1.5], [1.0, 2.0], None]
        assert out["tags"]["values"] == [["a", "b"], [], None]
        assert out["blob"]["values"] == ["AAE=", "//4=", None]
        bad = http.post("/api/v1/features/views/rich/push", json={"columns": {
            "driver_id": [3], "event_timestamp": [NOW.isoformat()], "embedding": [["x"]],
            "tags": [["a"]], "blob": ["AAE="]}})
        assert bad.status_code == 422 and "'embedding'" in bad.json()["error"]["message"]
        not_b64 = http.post("/api/v1/features/views/rich/push", json={"columns": {
            "driver_id": [3], "event_timestamp": [NOW.isoformat()], "embedding": [[1.0]],
            "tags": [["a"]], "blob": ["%%%"]}})
        assert not_b64.status_code == 422 and "base64" in not_b64.json()["error"]["message"]
