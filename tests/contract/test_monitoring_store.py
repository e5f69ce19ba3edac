"""Monitoring storage on SQLite and the real PostgreSQL, with the prediction log's rows in
the database or as Parquet in the artifact store: the log in batches, drops, retention,
concurrent bucket updates, labels joined by request id, references."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.monitoring.service import MonitoringService
from modelplane.store.db import Database

MakeService = Callable[..., MonitoringService]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def make_service(db: Database, storage: str = "database", artifact_root: str = "",
                 **kw: object) -> MonitoringService:
    """A service on ``db`` keeping the log's rows in the database or (``parquet``) under
    ``artifact_root``."""
    from modelplane.monitoring.sql import SqlPredictionStore, SqlReferenceStore, SqlRuleStore
    from modelplane.monitoring.store import PredictionStore

    in_db = SqlPredictionStore(db)
    predictions: PredictionStore = in_db
    if storage == "parquet":
        from modelplane.artifacts.store import ArtifactStore
        from modelplane.monitoring.parquet import ParquetPredictionStore

        predictions = ParquetPredictionStore(in_db, ArtifactStore(artifact_root))
    return MonitoringService(predictions, SqlReferenceStore(db), SqlRuleStore(db),
                             **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["database", "parquet"])
def make(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> MakeService:
    """Services on one database and, for ``parquet``, one artifact root."""
    root = str(tmp_path / "log-artifacts")
    return lambda **kw: make_service(db, request.param, root, **kw)


@pytest.fixture
def service(make: MakeService, remote_client: Any) -> Iterator[MonitoringService]:
    """The service under test: embedded on the case's stores, or a remote client's."""
    if remote_client is not None:
        yield remote_client.monitoring
        return
    svc = make()
    yield svc
    svc.close()


def rec(i: int, *, model: str = "m", version: int = 1, x: float = 0.0, at: float | None = None,
        status: str = "ok") -> dict[str, object]:
    return {"request_id": f"req-{i}", "model": model, "version": version,
            "time": time.time() if at is None else at, "inputs": {"x": x + i % 7, "c": "ab"[i % 2]},
            "outputs": {"prediction": i % 2, "probability": (i % 10) / 10},
            "latency_s": 0.001 * (1 + i % 5), "status": status, "cache_hit": i % 4 == 0}


def reference_frame(n: int = 2000) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n) % 7 + 0.0, "c": ["a", "b"] * (n // 2)})


@pytest.mark.embedded_only("the prediction logger runs where the model is served")
def test_the_logger_writes_batches_with_health_and_counts(service: MonitoringService) -> None:
    service.set_reference("m", reference_frame())
    logger = service.logger(batch_size=64, flush_interval_s=0.02)
    for i in range(1000):
        assert logger.log(rec(i, status="error" if i < 100 else "ok"))
    assert logger.flush(10)
    assert logger.stats().written == 1000
    health = service.health("m", "1h")
    assert health.overall.requests == 1000 and health.overall.errors == 100
    assert health.overall.error_rate == pytest.approx(0.1)
    assert health.overall.cache_hit_rate == pytest.approx(0.25)
    assert health.overall.latency_p50_s == pytest.approx(0.003, rel=0.02)
    assert health.logger is not None and health.logger["written"] == 1000
    drift = service.drift("m", "1h")
    assert drift.result.n_current == 1000 and drift.versions == [1]
    assert not drift.result.column("x").drifted and not drift.result.column("c").drifted


def test_drops_are_counted_and_reported_per_version(make: MakeService) -> None:
    class Blocked:
        def __init__(self, inner: MonitoringService) -> None:
            self.inner, self.gate = inner, threading.Event()

        def write(self, records: list, dropped: dict) -> int:  # type: ignore[type-arg]
            self.gate.wait(10)
            return self.inner.write(records, dropped)

    service = make()
    blocked = Blocked(service)
    from modelplane.monitoring.predlog.thread import ThreadLogger

    logger = ThreadLogger(blocked, capacity=20, batch_size=5, flush_interval_s=0.01)
    accepted = sum(logger.log(rec(i, version=3)) for i in range(500))
    blocked.gate.set()
    assert logger.flush(10)
    logger.close()
    health = service.health("m", "1h")
    assert health.overall.dropped == 500 - accepted > 0
    assert health.overall.requests == accepted
    assert [(v.version, v.dropped) for v in health.versions] == [(3, 500 - accepted)]


def test_retention_deletes_old_rows_and_buckets(make: MakeService) -> None:
    service = make(retention="1000d")  # the writer's own retention keeps them
    service.set_reference("m", reference_frame())
    old = time.time() - 40 * 86400
    service.log_predictions([rec(i, at=old) for i in range(10)] + [rec(100 + i)
                                                                   for i in range(5)])
    service.log_labels("m", [{"request_id": "req-1", "label": 1}])
    deleted = service.apply_retention("30d")
    assert deleted["predictions"] == 10 and deleted["labels"] == 1
    assert deleted["stats"] >= 1 and deleted["counts"] >= 1
    assert service.health("m", "90d").overall.requests == 5
    assert service.drift("m", "90d").result.n_current == 5
    service.close()


def test_concurrent_writers_add_up_in_one_bucket(make: MakeService) -> None:
    services = [make() for _ in range(4)]
    for s in services:
        s.set_reference("m", reference_frame(), rebuild=False) if s is services[0] else None
    now = time.time()
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for j in range(10):
                services[k].log_predictions([rec(k * 1000 + j * 20 + i, at=now)
                                             for i in range(20)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert services[0].health("m", "1h").overall.requests == 800
    assert services[0].drift("m", "1h").result.n_current == 800


def test_labels_join_by_request_id_and_unknown_ids_are_counted(
        service: MonitoringService) -> None:
    service.log_predictions([rec(i) for i in range(40)] + [
        {**rec(900), "request_id": "batch", "row_index": r, "version": 2,
         "outputs": r % 2} for r in range(3)])
    labels = [{"request_id": f"req-{i}", "label": i % 2} for i in range(30)]
    labels += [{"request_id": "batch", "row_index": r, "label": 1} for r in range(3)]
    labels += [{"request_id": "ghost-1", "label": 1}, {"request_id": "ghost-2", "label": 0},
               {"request_id": "batch", "row_index": 7, "label": 1}]
    result = service.log_labels("m", labels)
    assert (result.accepted, result.unknown) == (33, 3)
    assert sorted(result.unknown_request_ids) == ["batch", "ghost-1", "ghost-2"]
    again = service.log_labels("m", {"req-0": 1})  # a correction overwrites
    assert again.accepted == 1
    perf = service.performance("m", "1h")
    assert perf.overall.labelled == 33 and perf.overall.predictions == 43
    v1 = next(v for v in perf.versions if v.version == 1)
    assert v1.labelled == 30 and v1.metrics["accuracy"] == pytest.approx(29 / 30)
    v2 = next(v for v in perf.versions if v.version == 2)
    assert v2.metrics["accuracy"] == pytest.approx(1 / 3)
    assert service.performance("m", "10p").overall.predictions == 10
    with pytest.raises(InvalidArgumentError, match=r"labels\[0\].request_id"):
        service.log_labels("m", [{"label": 1}])


def test_references_resolve_per_version_and_rebuild_counts(service: MonitoringService) -> None:
    with pytest.raises(NotFoundError, match="has no reference profile"):
        service.drift("m", "1h")
    service.log_predictions([rec(i, x=5.0) for i in range(300)])
    model_wide = service.set_reference("m", reference_frame())  # rebuilds from the log
    assert service.drift("m", "1h").result.n_current == 300
    assert service.drift("m", "1h").result.column("x").above_range > 0
    own = service.set_reference("m", reference_frame(3000), version=1)
    assert service.reference("m", 1).id == own.id != model_wide.id
    assert service.reference("m", 2).id == model_wide.id
    assert service.drift("m", "1h", version=1).result.n_current == 300
    assert service.drift("m", "300p").result.n_current == 300
    assert [r.version for r in service.list_references("m")] == [0, 1]
    service.delete_reference("m", 1)
    assert service.reference("m", 1).id == model_wide.id


def test_reference_from_the_training_dataset_of_the_version(
        db: Database, make: MakeService) -> None:
    from modelplane.artifacts.store import get_artifact_store
    from modelplane.registry.service import RegistryService
    from modelplane.registry.sql import SqlRegistryStore
    from modelplane.tracking.service import TrackingService
    from modelplane.tracking.sql import SqlTrackingStore

    artifacts = get_artifact_store(str(db.url).split("///")[-1] + ".artifacts"
                                   if db.dialect == "sqlite" else "memory://mp-monitoring")
    tracking = TrackingService(SqlTrackingStore(db), artifacts)
    registry = RegistryService(SqlRegistryStore(db), artifacts)
    run = tracking.start_run("train")
    train = reference_frame().assign(target=np.arange(2000) % 2)
    ds = tracking.log_dataset(run.id, train, name="train")
    registry.create_version("m", artifact_digest=artifacts.put_bytes(b"w"), flavor="python",
                            run_id=run.id, datasets=[{"digest": ds.digest, "name": "train",
                                                      "role": "train"}],
                            signature={"inputs": [{"name": "x", "dtype": "float64"},
                                                  {"name": "c", "dtype": "string"}],
                                       "outputs": []})
    linked = make(registry=registry, tracking=tracking)
    ref = linked.reference("m", 1)
    assert ref.source == f"dataset:{ds.digest}"
    assert [c.name for c in ref.layout.columns] == ["x", "c"]  # the target is left out
    linked.log_predictions([rec(i) for i in range(50)])
    assert linked.drift("m", "1h").result.n_current == 50
    with pytest.raises(NotFoundError, match="has no reference profile for version 2"):
        linked.reference("m", 2)


@pytest.mark.parametrize("mixed", [False, True])
def test_a_batch_keeps_its_rows_order_and_values(db: Database, mixed: bool) -> None:
    """SQLite writes runs of similar rows in multi-row statements (chunks of 200): the
    log still holds every row with its values, in the order logged ("the last N
    predictions" follow it). ``mixed``: models alternate, so runs are too short to
    group and the batch goes in one executemany."""
    from sqlalchemy import select

    from modelplane.monitoring.predlog.rows import LOG_COLUMNS, LogBatch
    from modelplane.store.tables_monitoring import monitoring_predictions as log_t

    service = make_service(db)
    batch = LogBatch()
    now = time.time()
    for i in range(450):
        model = ("a", "b")[i % 2] if mixed else "a"
        error = "HTTP 500" if i in (7, 300) else None
        service_rows = {"request_id": f"r{i}", "model": model, "version": 1 + i % 3,
                        "inputs": {"x": i}, "outputs": None if error else {"prediction": i},
                        "latency_s": i / 1000, "time": now + i / 1000, "error": error,
                        "deployment": "d" if i > 400 else None, "variant": f"v{i % 3}"}
        batch.add(service_rows)
    service.write_rows(batch, {})
    with db.connection_scope(readonly=True) as conn:
        stored = conn.execute(select(*(log_t.c[c] for c in LOG_COLUMNS))
                              .order_by(log_t.c.id)).all()
    assert [r.request_id for r in stored] == [f"r{i}" for i in range(450)]
    expected = [dict(zip(LOG_COLUMNS, row, strict=True)) for row in batch.rows]
    for got, want in zip(stored, expected, strict=True):
        got = got._asdict()
        assert got["inputs"] == orjson.loads(want["inputs"])
        assert got["outputs"] == (None if want["outputs"] is None
                                  else orjson.loads(want["outputs"]))
        for name in ("model", "version", "deployment", "variant", "row_index", "ts",
                     "status", "error"):
            assert got[name] == want[name], name
        assert got["latency_s"] == pytest.approx(want["latency_s"])
        assert bool(got["cache_hit"]) is False
    assert service.health("a", "1h").overall.errors == (1 if mixed else 2)
    service.close()


def test_the_log_reads_back_newest_first_with_labels(service: MonitoringService) -> None:
    """``predictions``: a time window or the last N, newest first, filtered by version
    or request id, each row with its joined label; a bad limit names the field."""
    now = time.time()
    service.log_predictions(
        [{"request_id": f"r{i}", "model": "m", "version": 1 + i % 2, "inputs": {"x": i},
          "outputs": {"prediction": i % 2}, "latency_s": 0.001 * i, "time": now - 60 + i,
          "variant": "canary" if i % 2 else "stable"} for i in range(30)]
        + [{"request_id": "batch", "model": "m", "version": 1, "row_index": r,
            "inputs": {"x": 100 + r}, "outputs": {"prediction": 1}, "time": now - 7200}
           for r in range(3)]
        + [{"request_id": "other", "model": "n", "inputs": {"x": 0}, "time": now}])
    assert service.log_labels("m", {"r29": 1, "r3": 0}).accepted == 2

    newest = service.prediction_log("m", "1h", limit=5)
    assert [p.request_id for p in newest] == ["r29", "r28", "r27", "r26", "r25"]
    assert newest[0].inputs == {"x": 29} and newest[0].outputs == {"prediction": 1}
    assert (newest[0].version, newest[0].variant, newest[0].status) == (2, "canary", "ok")
    assert newest[0].latency_s == pytest.approx(0.029)
    assert abs(newest[0].time.timestamp() - (now - 31)) < 0.002
    assert (newest[0].label, newest[0].labelled) == (1, True)
    assert (newest[1].label, newest[1].labelled) == (None, False)
    assert len(service.prediction_log("m", "1h", limit=10_000)) == 30  # the batch is older

    v1 = service.prediction_log("m", "1h", version=1, limit=3)
    assert [p.request_id for p in v1] == ["r28", "r26", "r24"]
    assert [p.request_id for p in service.prediction_log("m", "4p")] == ["r29", "r28", "r27",
                                                                      "r26"]
    batch = service.prediction_log("m", "1d", request_id="batch")
    assert sorted((p.row_index, p.inputs["x"]) for p in batch) == [(0, 100), (1, 101),
                                                                   (2, 102)]
    labelled = [p for p in service.prediction_log("m", "1h", limit=100) if p.labelled]
    assert {(p.request_id, p.label) for p in labelled} == {("r29", 1), ("r3", 0)}
    assert service.prediction_log("nobody", "1h") == []
    for bad in (0, 10_001, True):
        with pytest.raises(InvalidArgumentError, match="limit"):
            service.prediction_log("m", "1h", limit=bad)
    with pytest.raises(InvalidArgumentError, match="window"):
        service.prediction_log("m", "soon")
