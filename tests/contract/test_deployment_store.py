"""The deployment store contract and the service's rules over it, on SQLite and PostgreSQL,
embedded and through a live server (``RemoteDeployments``): locked updates with their
events, refused changes leaving the state unchanged, shared stats from several replicas,
leases, evaluation-gate configs. Stats are written where serving replicas write them
(``replicas``: the server's store in the remote cases)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from modelplane.client import Client
from modelplane.core.config import Settings
from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
)
from modelplane.deployments.entities import Deployment, VariantStats
from modelplane.deployments.service import DeploymentService
from modelplane.deployments.sql import SqlDeploymentStore
from modelplane.deployments.stats import StatsRecorder, bucket_index

# these tests serve python-flavor models they define: pickles, loaded under the opt-in
pytestmark = pytest.mark.usefixtures("trust_pickles")


class Doubler:
    def predict(self, x: Any) -> Any:
        return np.asarray(x)[:, 0] * 2


@pytest.fixture
def client(database_url: str, mp_home: Any, remote_client: Any) -> Client:
    c = remote_client or Client(Settings(home=mp_home, database_url=database_url))
    for _ in range(3):
        c.log_model(None, Doubler(), "churn", input_example=np.ones((1, 2)))
    c.registry.set_stage("churn", 1, "production")
    return c


@pytest.fixture
def service(client: Client) -> DeploymentService:
    return client.deployments


@pytest.fixture
def replicas(service: DeploymentService, live: Any) -> SqlDeploymentStore:
    """Where serving replicas write their stats: the server's store when remote."""
    return (service if live is None else live.client.deployments).store  # type: ignore


def test_create_get_list_and_events(service: DeploymentService) -> None:
    d = service.create("churn-live", "churn", {"production": 90, "v2": 10}, key_field="user")
    assert d.revision == 1 and d.key_field == "user"
    got = service.get("churn-live")
    assert [(v.name, v.ref, v.weight) for v in got.variants] == [
        ("production", "production", 90.0), ("v2", "2", 10.0)]
    assert [x.name for x in service.list()] == ["churn-live"]
    assert {k: v.version for k, v in service.resolve(got).items()} == {"production": 1,
                                                                        "v2": 2}
    with pytest.raises(AlreadyExistsError, match="already exists"):
        service.create("churn-live", "churn")
    assert [e.kind for e in service.events("churn-live")] == ["created"]


def test_bad_input_is_refused_and_the_state_is_unchanged(service: DeploymentService) -> None:
    service.create("d", "churn", {"production": 100})
    before = service.get("d")
    with pytest.raises(InvalidArgumentError, match="sum to 100"):
        service.set_traffic("d", {"production": 90, "v2": 20})
    with pytest.raises(NotFoundError, match="version 9"):
        service.set_traffic("d", {"production": 90, "v9": 10})
    with pytest.raises(InvalidArgumentError, match="unknown gate metric"):
        service.start_canary("d", 2, gates=["happiness:max=1"])
    service.start_canary("d", 2, hold=1)
    during = service.get("d")
    with pytest.raises(InvalidStateError, match="canary of version 2 running"):
        service.start_canary("d", 3)
    with pytest.raises(InvalidStateError, match="promoted or aborted first"):
        service.set_traffic("d", {"production": 100})
    assert service.get("d") == during
    assert before.revision == 1 and during.revision == 2
    with pytest.raises(NotFoundError, match="does not exist"):
        service.get("nope")
    with pytest.raises(NotFoundError):
        service.create("e", "no-such-model")


def test_concurrent_updates_never_interleave(service: DeploymentService) -> None:
    service.create("d", "churn", {"production": 100})
    errors: list[BaseException] = []

    def flip(i: int) -> None:
        try:
            for j in range(5):
                w = (i * 5 + j) % 100
                service.set_traffic("d", {"production": 100 - w, "v2": w})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=flip, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert service.get("d").revision == 21
    assert len(service.events("d", limit=100)) == 21


def test_canary_lifecycle_through_the_store(service: DeploymentService,
                                            replicas: SqlDeploymentStore) -> None:
    store = replicas
    service.create("d", "churn", {"production": 100})
    d = service.start_canary("d", 2, steps="10,100", hold=0, hold_requests=5,
                             min_requests=5, gates=["error_rate:max=0.1"])
    assert d.weights() == {"canary": 10.0, "production": 90.0}
    c = d.canary
    assert c is not None
    stats = VariantStats(n=10, latency_sum=0.1, hist={bucket_index(0.01): 10})
    bucket = int(c.started_at)
    store.write_stats("r1", [("d", "canary", 2, bucket, stats),
                             ("d", "production", 1, bucket, stats)])
    assert service.tick("d").action == "advance"  # type: ignore[union-attr]
    assert service.get("d").weights() == {"canary": 100.0, "production": 0.0}
    time.sleep(1.05)  # the next step counts from its own start
    now = int(time.time())
    store.write_stats("r2", [("d", "canary", 2, now, stats)])
    assert service.tick("d").action == "complete"  # type: ignore[union-attr]
    done = service.get("d")
    assert done.weights() == {"production": 100.0}
    assert done.canary is not None and done.canary.status == "succeeded"
    assert service.registry.get_latest_version("churn", stage="production").version == 2
    kinds = [e.kind for e in service.events("d")]
    assert kinds == ["created", "canary_started", "canary_advanced", "canary_succeeded"]


def test_a_failing_canary_is_rolled_back_and_why_is_recorded(
        service: DeploymentService, replicas: SqlDeploymentStore) -> None:
    service.create("d", "churn", {"production": 100})
    c = service.start_canary("d", 3, hold=60, min_requests=10,
                             gates=["error_rate:max=0.05"]).canary
    assert c is not None
    replicas.write_stats("r1", [("d", "canary", 3, int(c.started_at),
                                      VariantStats(n=50, errors=10, latency_sum=0.5))])
    decision = service.tick("d")
    assert decision is not None and decision.action == "rollback"
    d = service.get("d")
    assert d.weights() == {"production": 100.0}
    assert d.canary is not None and d.canary.status == "rolled_back"
    assert "error_rate 0.2 > max 0.05" in d.canary.reason
    event = service.events("d")[-1]
    assert event.kind == "canary_rolled_back" and "error_rate" in event.reason
    assert event.detail["gates"][0]["status"] == "fail"
    assert service.registry.get_latest_version("churn", stage="production").version == 1


def test_blue_green_switch_and_switch_back(service: DeploymentService) -> None:
    service.create("d", "churn", ["blue:1=100", "green:2=0"])
    assert service.switch("d", "green").weights() == {"blue": 0.0, "green": 100.0}
    assert service.switch_back("d").weights() == {"blue": 100.0, "green": 0.0}
    assert service.switch("d", "3").weights() == {"v3": 100.0, "blue": 0.0, "green": 0.0}
    with pytest.raises(InvalidStateError, match="no canary running"):
        service.abort("d")
    service.create("e", "churn")
    with pytest.raises(InvalidStateError, match="no switch to undo"):
        service.switch_back("e")


def test_stats_from_several_replicas_add_up_and_rewrites_do_not_double(
        service: DeploymentService, replicas: SqlDeploymentStore) -> None:
    service.create("d", "churn")
    store = replicas
    one, two = StatsRecorder(store, "replica-one"), StatsRecorder(store, "replica-two")
    for _ in range(30):
        one.record("d", "production", 1, False, 0.01)
    for i in range(20):
        two.record("d", "production", 1, i < 5, 0.02)
    one.flush()
    two.flush()
    rows = store.read_stats("d", int(time.time()) - 60)
    assert rows[0][:2] == ("production", 1)
    assert (rows[0][2].n, rows[0][2].errors) == (50, 5)
    for _ in range(10):
        one.record("d", "production", 1, False, 0.01)
    one.flush()  # replaces replica one's bucket with its running total
    assert store.read_stats("d", int(time.time()) - 60)[0][2].n == 60
    assert service.stats("d", "1m")["production"].n == 60


@pytest.mark.embedded_only("leases are taken by the server's replicas, never by a client")
def test_leases_go_to_one_holder_until_they_expire(service: DeploymentService) -> None:
    store = service.store
    assert store.acquire_lease("canary:d", "a", 1.5)
    assert not store.acquire_lease("canary:d", "b", 1.5)
    assert store.acquire_lease("canary:d", "a", 1.5)  # renewal
    time.sleep(1.6)
    assert store.acquire_lease("canary:d", "b", 5)
    assert not store.acquire_lease("canary:d", "a", 5)


def test_eval_gate_configs(service: DeploymentService) -> None:
    config = service.set_eval_gates("churn", ["accuracy:min=0.5"], dataset="/tmp/x.parquet",
                                    target="y")
    assert service.get_eval_gates("churn") == config
    with pytest.raises(InvalidArgumentError, match="unknown evaluation metric"):
        service.set_eval_gates("churn", ["vibes:min=1"], dataset="x.csv")
    assert service.get_eval_gates("churn") == config
    service.delete_eval_gates("churn")
    assert service.get_eval_gates("churn") is None


def test_deployments_are_plain_records(service: DeploymentService) -> None:
    d = service.create("d", "churn", shadows=["3"])
    assert isinstance(d, Deployment) and [v.name for v in d.shadows] == ["v3"]
    assert d.to_dict()["variants"][1]["shadow"] is True
    assert isinstance(SqlDeploymentStore, type)
