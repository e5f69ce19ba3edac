"""The prediction log's writer process (ProcessSink), on SQLite and PostgreSQL: served
answers in every data form reach the log, health and drift counts; a killed writer is
restarted without losing a batch; a reference set in the server reaches the writer at
once; closing the logger lets the writer finish and leave."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sqlalchemy import select

from modelplane.client import Client
from modelplane.core.config import Settings
from modelplane.monitoring.predlog.process import ProcessLogger
from modelplane.monitoring.predlog.served import answer
from modelplane.monitoring.predlog.wire import ProcessSink
from modelplane.store.tables_monitoring import monitoring_predictions


@pytest.fixture
def client(database_url: str, mp_home: Path) -> Iterator[Client]:
    c = Client(Settings(home=mp_home, database_url=database_url))
    yield c
    if "monitoring" in vars(c):
        c.monitoring.close()


def process_logger(client: Client) -> tuple[Any, ProcessSink]:
    """What a server installs: answers encoded at once, written by the child process."""
    monitoring = client.monitoring
    sink = ProcessSink(client.settings, generation=lambda: monitoring.reference_generation)
    logger = monitoring.install_logger(lambda: ProcessLogger(sink, flush_interval_s=0.05))
    return logger, sink


def proba(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.ones(n, dtype=np.int64), np.tile([[0.25, 0.75]], (n, 1))


def reference(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})


def test_served_answers_in_every_form_reach_the_log(client: Client) -> None:
    client.monitoring.set_reference("m", reference())
    logger, sink = process_logger(client)
    body = orjson.dumps([{"a": 0.1, "b": 0.2}, {"a": 0.3, "b": 0.4}])
    logger.log(answer("m", 1, "raw", body, proba(2), 0.002))  # the JSON body as sent
    logger.log(answer("m", 1, "dict", {"a": 1.0, "b": 2.0}, proba(1), 0.003))
    logger.log(answer("m", 1, "columns", {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]},
                      proba(3), 0.004))
    logger.log(answer("m", 2, "frame", pd.DataFrame({"a": [0.5], "b": [np.nan]}),
                      proba(1), 0.005))
    logger.log(answer("m", 2, "array", np.array([[7.0, 8.0]], dtype=np.float32),
                      proba(1), 0.006))
    logger.log(answer("m", 2, "failed", {"a": 1.0, "b": 1.0}, None, 0.5, "HTTP 500"))
    assert logger.flush(60)
    assert sink.pid is not None and sink.pid != os.getpid()

    health = client.monitoring.health("m", "1h")
    assert health.overall.requests == 9  # rows: 2 + 1 + 3 + 1 + 1 + 1
    assert health.overall.errors == 1
    assert logger.stats().written == 6 and logger.stats().rejected == 0
    keys = [("raw", 0), ("raw", 1), ("dict", 0), ("columns", 2), ("frame", 0),
            ("array", 0), ("failed", 0)]
    joined = client.monitoring.log_labels(
        "m", [{"request_id": r, "row_index": i, "label": 1} for r, i in keys])
    assert joined.accepted == len(keys) and joined.unknown == 0
    perf = client.monitoring.performance("m", "1h", version=1)
    assert perf.overall.labelled == 4  # raw x2, dict, columns row 2
    drift = client.monitoring.drift("m", "1h", version=1)
    assert drift.result.n_current == 6  # version 1's rows, counted by the writer


def test_served_json_requests_reach_the_log_as_sent(client: Client) -> None:
    """The server's common request (a JSON body the model saw as sent, a JSON answer) is
    logged without encoding anything: a one-record body is stored as it came, other
    bodies are split into rows; drift counts read the values; an answer whose
    predictions do not match its rows is rejected alone."""
    client.monitoring.set_reference("m", reference())
    logger, _ = process_logger(client)
    one = b'{"a": 0.5,\n "b": -1.25}'  # as a client wrote it: spaces, a newline
    logger.log_served("m", 1, "one", one, b'{"model":"m","predictions":[1],'
                      b'"probabilities":[[0.25,0.75]],"classes":[0,1]}', 0.002)
    logger.log_served("m", 1, "many", b'[{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}]',
                      b'{"predictions":[0,1]}', 0.003, "dep", "canary")
    logger.log_served("m", 1, "cols", b'{"a": [5.0, 6.0], "b": [7.0, 8.0]}',
                      b'{"predictions":[2.5,3.5]}', 0.004)
    logger.log_served("m", 1, "short", b'[{"a": 1.0}, {"a": 2.0}]', b'{"predictions":[1]}',
                      0.001)
    assert logger.flush(60)
    assert logger.stats().written == 3 and logger.stats().rejected == 1

    assert client.monitoring.health("m", "1h").overall.requests == 5
    assert client.monitoring.drift("m", "1h", version=1).result.n_current == 5
    log_t = monitoring_predictions
    with client.monitoring.predictions.db.connection_scope(readonly=True) as conn:
        found = conn.execute(select(log_t)).mappings().all()
    rows = {(r["request_id"], r["row_index"]): r for r in found}
    assert sorted(rows) == [("cols", 0), ("cols", 1), ("many", 0), ("many", 1), ("one", 0)]
    assert rows[("one", 0)]["inputs"] == {"a": 0.5, "b": -1.25}
    assert rows[("one", 0)]["outputs"] == {"prediction": 1, "probabilities": [0.25, 0.75]}
    assert rows[("many", 1)]["inputs"] == {"a": 3.0, "b": 4.0}
    assert (rows[("many", 1)]["deployment"], rows[("many", 1)]["variant"]) == ("dep", "canary")
    assert rows[("cols", 1)]["inputs"] == {"a": 6.0, "b": 8.0}
    assert rows[("cols", 1)]["outputs"] == {"prediction": 3.5}
    assert abs(rows[("one", 0)]["latency_s"] - 0.002) < 1e-12


def test_a_killed_writer_is_restarted_and_no_batch_is_lost(client: Client) -> None:
    logger, sink = process_logger(client)
    for i in range(50):
        logger.log(answer("m", 1, f"a{i}", {"a": float(i)}, proba(1), 0.001))
    assert logger.flush(60)
    first = sink.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    for i in range(50):
        logger.log(answer("m", 1, f"b{i}", {"a": float(i)}, proba(1), 0.001))
    assert logger.flush(60)
    assert sink.starts == 2 and sink.pid != first
    assert client.monitoring.health("m", "1h").overall.requests == 100
    assert logger.stats().written == 100 and logger.stats().failed == 0


def test_a_reference_set_here_reaches_the_writer_at_once(client: Client) -> None:
    logger, _ = process_logger(client)
    logger.log(answer("m", 0, "before", {"a": 0.0, "b": 0.0}, proba(1), 0.001))
    assert logger.flush(60)  # the writer now caches "no reference" for model m
    client.monitoring.set_reference("m", reference(), rebuild=False)
    for i in range(20):
        logger.log(answer("m", 0, f"after{i}", {"a": 0.1, "b": 0.2}, proba(1), 0.001))
    assert logger.flush(60)
    assert client.monitoring.drift("m", "1h").result.n_current == 20


def test_closing_lets_the_writer_finish_and_leave(client: Client) -> None:
    logger, sink = process_logger(client)
    for i in range(200):
        logger.log(answer("m", 1, f"c{i}", {"a": float(i)}, proba(1), 0.001))
    sink.start()
    pid = sink.pid
    assert pid is not None
    client.monitoring.close()
    assert client.monitoring.health("m", "1h").overall.requests == 200
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_without_the_process_answers_are_written_on_the_logger_thread(client: Client) -> None:
    """MODELPLANE_PREDICTION_LOG_PROCESS=false: the same answers, converted in process."""
    logger = client.monitoring.logger(flush_interval_s=0.05)
    logger.log(answer("m", 1, "np", np.array([[1.5, np.inf]]), proba(1), 0.001))
    logger.log(answer("m", 1, "raw", b'{"a": 1.0}', proba(1), 0.001))
    assert logger.flush(30)
    assert client.monitoring.health("m", "1h").overall.requests == 2
    joined = client.monitoring.log_labels("m", {"np": 0, "raw": 1})
    assert joined.accepted == 2


def test_an_odd_answer_is_rejected_alone(client: Client) -> None:
    """Columns of different lengths cannot be split into rows: that answer is counted as
    rejected and the rest of its batch is written."""
    logger, _ = process_logger(client)
    logger.log(answer("m", 1, "ragged", {"a": [1.0, 2.0], "b": [1.0]}, proba(2), 0.001))
    logger.log(answer("m", 1, "fine", {"a": 1.0, "b": 2.0}, proba(1), 0.001))
    assert logger.flush(60)
    assert logger.stats().rejected == 1 and logger.stats().written == 1
    assert client.monitoring.log_labels("m", {"fine": 1}).accepted == 1


def test_a_served_request_reaches_an_in_thread_logger_installed_first(client: Client) -> None:
    """When the service's in-thread logger exists before the server's (a script logged
    first), a served JSON request and its answer are still logged, as an answer."""
    from modelplane.serving.predlog import ServingLog

    logger = client.monitoring.logger(flush_interval_s=0.05)
    serving = ServingLog(lambda: client.monitoring, client.settings, process=True)
    serving.log("m", 1, "req", {"a": 1.0}, ([1], [[0.2, 0.8]]), 0.001, raw=b'{"a": 1.0}',
                response=b'{"predictions":[1],"probabilities":[[0.2,0.8]]}')
    assert serving.logger is logger and logger.flush(30)
    assert client.monitoring.health("m", "1h").overall.requests == 1
    assert client.monitoring.prediction_log("m", "1h")[0].outputs == {
        "prediction": 1, "probabilities": [0.2, 0.8]}
