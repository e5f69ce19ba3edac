"""The Parquet prediction log: files per model and UTC day, retention by whole days, no
partial file after a crash, labels joined from the database, exact ``Np`` windows."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelplane.monitoring.parquet import ParquetPredictionStore
from modelplane.monitoring.service import MonitoringService
from modelplane.store.db import Database

LOG = "monitoring/predictions"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def rec(request_id: str, when: float, *, model: str = "m", version: int = 1, row: int = 0,
        x: float = 0.0, out: Any = 1) -> dict[str, Any]:
    return {"request_id": request_id, "model": model, "version": version, "time": when,
            "row_index": row, "inputs": {"x": x, "c": "a"}, "outputs": out, "latency_s": 0.01}


def parts(root: Path) -> list[str]:
    """Every file under the log, as ``model=../date=../name`` (hidden ones included)."""
    return sorted(p.relative_to(root / LOG).as_posix() for p in (root / LOG).rglob("*")
                  if p.is_file())


def services(db: Database, root: Path) -> tuple[ParquetPredictionStore, MonitoringService]:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.monitoring.sql import SqlPredictionStore, SqlReferenceStore, SqlRuleStore

    store = ParquetPredictionStore(SqlPredictionStore(db), ArtifactStore(str(root)))
    # a long retention: the writer's own retention must not touch the dated rows here
    return store, MonitoringService(store, SqlReferenceStore(db), SqlRuleStore(db),
                                    retention="100000d")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    yield database
    database.dispose()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def store(db: Database, root: Path) -> ParquetPredictionStore:
    return services(db, root)[0]


@pytest.fixture
def service(db: Database, root: Path) -> Iterator[MonitoringService]:
    svc = services(db, root)[1]
    yield svc
    svc.close()


def test_rows_land_in_one_file_per_model_and_utc_day(service: MonitoringService,
                                                     root: Path) -> None:
    import pyarrow.parquet as pq

    before, after = at("2024-05-01T23:59:59.900"), at("2024-05-02T00:00:00.100")
    service.log_predictions([rec("a", before, x=1.5, out={"p": [0.2, 0.8]}), rec("b", after),
                             rec("c", after, model="fraud/v2 eu")])
    found = parts(root)
    assert [f.rsplit("/", 1)[0] for f in found] == [
        "model=fraud%2Fv2%20eu/date=2024-05-02", "model=m/date=2024-05-01",
        "model=m/date=2024-05-02"]
    assert all(f.rsplit("/", 1)[1].startswith("part-") for f in found)
    row = pq.read_table(root / LOG / found[1]).to_pylist()[0]
    assert row["request_id"] == "a" and row["ts"] == int(before * 1000)
    assert row["inputs"] == '{"x":1.5,"c":"a"}' and row["outputs"] == '{"p":[0.2,0.8]}'
    assert row["model"] == "m" and row["status"] == "ok" and row["cache_hit"] is False
    store = service.predictions
    assert store.find_predictions("m", [("a", 0), ("c", 0)]) == {("a", 0): int(before * 1000)}
    rows = [r for chunk in store.iter_predictions("m", None, None) for r in chunk]
    assert rows == [(1, int(before * 1000), {"x": 1.5, "c": "a"}, {"p": [0.2, 0.8]}),
                    (1, int(after * 1000), {"x": 0.0, "c": "a"}, 1)]
    assert [r[0] for c in store.iter_predictions("m", None, int(after * 1000)) for r in c] == [1]
    assert list(store.iter_predictions("m", [2], None)) == []


def test_retention_removes_whole_days_before_the_cutoffs_day(
        service: MonitoringService, store: ParquetPredictionStore, root: Path) -> None:
    service.log_predictions([rec("old", at("2024-05-09T12:00")),
                             rec("early", at("2024-05-10T01:00")),
                             rec("late", at("2024-05-10T13:00"))])
    service.log_labels("m", [{"request_id": r, "label": 1} for r in ("old", "early", "late")])
    deleted = store.delete_before(int(at("2024-05-10T12:00") * 1000))
    assert deleted == {"predictions": 1, "labels": 1, "stats": 1, "counts": 0}
    assert {f.split("/")[1] for f in parts(root)} == {"date=2024-05-10"}
    # "early" is older than the cutoff but shares its day: kept, with its label and bucket
    assert set(store.find_predictions("m", [("old", 0), ("early", 0), ("late", 0)])) == {
        ("early", 0), ("late", 0)}
    perf = service.performance("m", "2024-05-01..2024-05-11")
    assert (perf.overall.predictions, perf.overall.labelled) == (2, 2)
    assert service.health("m", "2024-05-01..2024-05-11").overall.requests == 2


CRASH = """
import os, sys
import pyarrow.parquet as pq
from modelplane.artifacts.store import ArtifactStore
from modelplane.monitoring.predlog.records import PredictionRecord
from modelplane.monitoring.parquet import ParquetPredictionStore
from modelplane.monitoring.predlog.rows import log_row
from modelplane.monitoring.sql import SqlPredictionStore
from modelplane.store.db import Database

def crash(table, out, **options):  # half a file on disk, then the process dies
    out.write(b"PAR1" + b"x" * 100)
    out.flush()
    os._exit(3)

pq.write_table = crash
store = ParquetPredictionStore(SqlPredictionStore(Database(sys.argv[1])),
                               ArtifactStore(sys.argv[2]))
store.write_batch([log_row(PredictionRecord(request_id="lost", model="m"))], {}, {})
"""


def test_a_crash_mid_write_leaves_no_partial_file_visible(
        db: Database, store: ParquetPredictionStore, root: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    done = subprocess.run([sys.executable, "-c", CRASH, str(db.url), str(root)], timeout=60)
    assert done.returncode == 3
    [leftover] = parts(root)
    assert leftover.rsplit("/", 1)[1].startswith(".part-") and leftover.endswith(".tmp")
    assert store.find_predictions("m", [("lost", 0)]) == {}
    assert store.first_of_last("m", 10) is None and store.prediction_counts("m", None, None) == {}

    from modelplane.monitoring.predlog.records import PredictionRecord
    from modelplane.monitoring.predlog.rows import log_row

    batch = [log_row(PredictionRecord(request_id="r", model="m", version=1))]

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:  # a failing write removes its temporary file
        patch.setattr("pyarrow.parquet.write_table", boom)
        with pytest.raises(OSError, match="disk full"):
            store.write_batch(batch, {}, {})
    assert parts(root) == [leftover]
    with monkeypatch.context() as patch:  # a failing database removes the batch's files
        patch.setattr(store.sql, "write_batch", boom)
        with pytest.raises(OSError, match="disk full"):
            store.write_batch(batch, {}, {})
    assert parts(root) == [leftover]
    store.write_batch(batch, {}, {})
    assert set(store.find_predictions("m", [("r", 0)])) == {("r", 0)}


def test_log_positions_order_by_time_then_write_order(store: ParquetPredictionStore) -> None:
    from modelplane.monitoring.predlog.records import PredictionRecord
    from modelplane.monitoring.predlog.rows import log_row

    def write(times: list[float], first: int) -> None:
        store.write_batch([log_row(PredictionRecord(request_id=f"r{first + i}", model="m",
                                                    version=1, time=t))
                           for i, t in enumerate(times)], {}, {})

    write([1.0, 2.0, 2.0], 0)  # file A
    write([2.0, 3.0], 3)  # file B, written later: its ts=2.0 row comes after A's
    file_a = store.first_of_last("m", 5)
    assert file_a is not None and file_a[0] == 1000 and file_a[2] == 0
    expected = {1: (3000, 1), 2: (2000, 0), 3: (2000, 2), 4: (2000, 1), 5: (1000, 0),
                50: (1000, 0)}
    for count, (ts, row) in expected.items():
        position = store.first_of_last("m", count)
        assert position is not None and (position[0], position[2]) == (ts, row)
        assert (position[1] == file_a[1]) == (count >= 3)
        assert store.prediction_counts("m", None, None, first_id=position) == {1: min(count, 5)}
    assert store.first_of_last("m", 1, version=2) is None
    assert store.first_of_last("other", 1) is None


def test_labels_join_by_model_request_id_and_row(service: MonitoringService) -> None:
    now = time.time()
    service.log_predictions(
        [rec("q", now - 86400, row=r, out=r % 2, version=2) for r in range(3)]
        + [rec("t", now, out=1), rec("q", now, model="other", out=0)])
    labels = [{"request_id": "q", "row_index": r, "label": "yes"} for r in range(4)]
    result = service.log_labels("m", [*labels, {"request_id": "t", "label": "no"}])
    assert (result.accepted, result.unknown) == (4, 1)
    store = service.predictions
    assert sorted(store.labelled("m", None, None)) == [
        (1, 1, "no"), (2, 0, "yes"), (2, 0, "yes"), (2, 1, "yes")]
    assert store.labelled("m", None, None, version=1) == [(1, 1, "no")]
    assert store.labelled("m", int(now * 1000) - 3600_000, None) == [(1, 1, "no")]
    assert store.labelled("other", None, None) == []


def test_count_window_performance_is_exact_and_agrees_with_the_database(
        service: MonitoringService, db: Database) -> None:
    from modelplane.monitoring.sql import SqlPredictionStore, SqlReferenceStore, SqlRuleStore

    in_db = MonitoringService(SqlPredictionStore(db), SqlReferenceStore(db), SqlRuleStore(db),
                              retention="100000d")
    now = time.time()
    # 600 yesterday, 600 today, in batches (several files); the oldest 200 labelled wrong
    times = [now - 86400 - 600 + i for i in range(600)] + [now - 600 + i for i in range(600)]
    records = [rec(f"r{i}", t, version=1 + i % 2, out=i % 2) for i, t in enumerate(times)]
    labels = [{"request_id": f"r{i}", "label": (i % 2) if i >= 200 else 1 - i % 2}
              for i in range(len(records))]
    for svc, model in ((service, "m"), (in_db, "m2")):
        for i in range(0, len(records), 400):
            svc.log_predictions([{**r, "model": model} for r in records[i:i + 400]])
        assert svc.log_labels(model, labels).accepted == 1200
    for window, version in (("1000p", None), ("1001p", None), ("700p", 2), ("5000p", None)):
        mine = service.performance("m", window, version)
        theirs = in_db.performance("m2", window, version)
        assert [(v.version, v.predictions, v.labelled, v.metrics) for v in mine.versions] == [
            (v.version, v.predictions, v.labelled, v.metrics) for v in theirs.versions]
        assert mine.overall.metrics == theirs.overall.metrics
    exact = service.performance("m", "1000p")
    assert (exact.overall.predictions, exact.overall.labelled) == (1000, 1000)
    assert exact.overall.metrics["accuracy"] == 1.0
    assert service.performance("m", "1001p").overall.metrics["accuracy"] == pytest.approx(
        1000 / 1001)
    in_db.close()


def test_the_setting_picks_the_store_and_a_bad_value_names_the_variable(
        mp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelplane.client import Client
    from modelplane.core.config import get_settings, reset_settings
    from modelplane.core.errors import ConfigurationError
    from modelplane.monitoring.sql import SqlPredictionStore

    assert type(Client().monitoring.predictions) is SqlPredictionStore
    monkeypatch.setenv("MODELPLANE_PREDICTION_LOG_STORAGE", "Parquet")
    reset_settings()
    monitoring = Client().monitoring
    assert isinstance(monitoring.predictions, ParquetPredictionStore)
    monitoring.log_predictions([rec("a", time.time())])
    assert len(parts(mp_home / "artifacts")) == 1
    monkeypatch.setenv("MODELPLANE_PREDICTION_LOG_STORAGE", "s3")
    reset_settings()
    with pytest.raises(ConfigurationError) as caught:
        get_settings()
    assert str(caught.value) == ("MODELPLANE_PREDICTION_LOG_STORAGE: expected database or "
                                 "parquet, got 's3'")


def test_a_file_removed_between_listing_and_reading_is_read_again(
        store: ParquetPredictionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelplane.core.errors import StorageUnavailableError
    from modelplane.monitoring.predlog.records import PredictionRecord
    from modelplane.monitoring.predlog.rows import log_row

    store.write_batch([log_row(PredictionRecord(request_id="r", model="m", version=1))], {}, {})
    listed = store._files
    calls: list[int] = []

    def stale(model: str, days: Any) -> list[str]:  # the first listing names a gone file
        calls.append(1)
        return listed(model, days) + (["/nowhere/part-0.parquet"] if len(calls) == 1 else [])

    monkeypatch.setattr(store, "_files", stale)
    assert store.prediction_counts("m", None, None) == {1: 1} and len(calls) == 2
    monkeypatch.setattr(store, "_files", lambda model, days: ["/nowhere/part-0.parquet"])
    with pytest.raises(StorageUnavailableError, match="prediction log's Parquet files"):
        store.prediction_counts("m", None, None)


def _batches(service: MonitoringService, count: int, first: int = 0) -> None:
    now = time.time()
    for b in range(first, first + count):
        service.log_predictions([rec(f"r{b}-{i}", now - 500 + b + i / 100, version=1 + b % 2,
                                     x=float(b), out=b % 2) for i in range(5)])


def _view(store: ParquetPredictionStore, service: MonitoringService) -> Any:
    """What readers see: every row in order, counts, and an exact "last N" window."""
    rows = store.read_log("m", None, None, limit=10_000)
    perf = service.performance("m", "37p")
    return (rows, store.prediction_counts("m", None, None),
            [(v.version, v.predictions) for v in perf.versions])


def test_compaction_merges_old_files_and_readers_see_the_same_rows(
        store: ParquetPredictionStore, service: MonitoringService, root: Path) -> None:
    _batches(service, 40)
    time.sleep(0.05)
    mark = time.time()
    _batches(service, 3, first=40)  # written after the cutoff: left alone
    before = _view(store, service)
    assert len(parts(root)) == 43

    assert store.compact(older_than_s=time.time() - mark) == 40
    found = [p.rsplit("/", 1)[1] for p in parts(root)]
    assert len(found) == 4 and found[0].startswith("part-") and "c-" in found[0]
    assert _view(store, service) == before  # same rows, same order, same windows
    assert store.compact(older_than_s=0) == 0  # 2 visible files: fewer than worth merging


def test_files_a_compacted_file_covers_are_never_read_twice(
        store: ParquetPredictionStore, service: MonitoringService, root: Path) -> None:
    """A crash after the merged file is in place and before its inputs are removed (or a
    reader listing in between) sees each row once; the next compaction removes them."""
    from modelplane.monitoring.parquet import _visible

    _batches(service, 20)
    before = _view(store, service)
    folder = next((root / LOG).glob("model=m/date=*"))
    names = sorted(p.name for p in folder.iterdir())
    first, last = names[0].split("-")[1], names[-1].split("-")[1]
    store._merge(str(folder), names, f"part-{first}-{last}c-{'a' * 12}.parquet")
    assert len(parts(root)) == 21
    assert _view(store, service) == before
    assert store.compact(older_than_s=0) == 0
    assert len(parts(root)) == 1 and _view(store, service) == before

    # of two compacted files, the one covering more stands; equal ranges: the first name
    small, big = f"part-{1:020d}-{5:020d}c-aa.parquet", f"part-{1:020d}-{9:020d}c-bb.parquet"
    twin = f"part-{1:020d}-{9:020d}c-cc.parquet"
    plain, later = f"part-{3:020d}-ab.parquet", f"part-{10:020d}-ab.parquet"
    assert [n for *_, n in _visible([later, twin, small, plain, big])] == [big, later]


def test_the_writer_compacts_with_retention(service: MonitoringService,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(service.predictions, "compact", lambda: calls.append(1) or 0)
    service._last_retention = -1e9  # due
    _batches(service, 1)
    _batches(service, 1, first=1)  # not due again for 10 minutes
    assert calls == [1]


def test_compaction_on_an_fsspec_store(db: Database) -> None:
    """The same through fsspec (an object store's path: merged locally, then put)."""
    import uuid

    from modelplane.artifacts.store import ArtifactStore
    from modelplane.monitoring.sql import SqlPredictionStore, SqlReferenceStore, SqlRuleStore

    store = ParquetPredictionStore(SqlPredictionStore(db),
                                   ArtifactStore(f"memory://mp-compact-{uuid.uuid4().hex}"))
    service = MonitoringService(store, SqlReferenceStore(db), SqlRuleStore(db),
                                retention="100000d")
    _batches(service, 18)
    before = _view(store, service)
    assert store.compact(older_than_s=0) == 18
    folder = store._model_dir("m")
    [day] = store._names(folder)
    assert len(store._names(f"{folder}/{day}")) == 1
    assert _view(store, service) == before
    service.close()
