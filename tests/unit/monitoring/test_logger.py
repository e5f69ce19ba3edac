"""ThreadLogger: never blocks, never raises, counts drops, retries a failing sink."""

from __future__ import annotations

import threading
import time
from typing import Any

from modelplane.monitoring.predlog.records import PredictionRecord, normalise_record
from modelplane.monitoring.predlog.thread import ThreadLogger


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.drops: dict[tuple[str, int], int] = {}
        self.gate = threading.Event()
        self.gate.set()
        self.fail = 0

    def write(self, records: list[Any], dropped: dict[tuple[str, int], int]) -> int:
        self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise ConnectionError("database down")
        self.batches.append(records)
        for k, v in dropped.items():
            self.drops[k] = self.drops.get(k, 0) + v
        return sum(1 for r in records if r == "junk")


def record(i: int, version: int = 1) -> PredictionRecord:
    return PredictionRecord(request_id=f"r{i}", model="m", version=version, inputs={"x": i},
                            outputs=i, latency_s=0.001)


def test_batches_and_flush() -> None:
    sink = Sink()
    with ThreadLogger(sink, batch_size=100, flush_interval_s=0.05) as logger:
        for i in range(1050):
            assert logger.log(record(i))
        assert logger.flush(5)
        stats = logger.stats()
    assert sum(len(b) for b in sink.batches) == 1050
    assert max(len(b) for b in sink.batches) <= 100
    assert (stats.written, stats.dropped, stats.queued) == (1050, 0, 0)


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    sink = Sink()
    sink.gate.clear()  # the writer is stuck (a slow database)
    logger = ThreadLogger(sink, capacity=50, batch_size=10, flush_interval_s=0.01)
    started = time.perf_counter()
    accepted = sum(logger.log(record(i, version=2)) for i in range(5000))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5  # 5,000 calls never waited on the writer
    assert accepted <= 60
    assert logger.stats().dropped == 5000 - accepted
    sink.gate.set()
    assert logger.flush(5)
    logger.close()
    assert sink.drops == {("m", 2): 5000 - accepted}
    assert logger.stats().written == accepted


def test_log_never_raises_and_bad_records_are_counted() -> None:
    sink = Sink()
    with ThreadLogger(sink, flush_interval_s=0.01) as logger:
        assert logger.log("junk")  # queued; the sink rejects it
        assert logger.log(None)  # type: ignore[arg-type]
        assert logger.flush(5)
        assert logger.stats().rejected == 1


def test_a_failing_sink_is_retried() -> None:
    sink = Sink()
    sink.fail = 2
    with ThreadLogger(sink, flush_interval_s=0.01, max_backoff_s=0.05) as logger:
        logger.log(record(1))
        assert logger.flush(5)
    assert [len(b) for b in sink.batches] == [1]


def test_after_close_records_are_dropped() -> None:
    logger = ThreadLogger(Sink())
    logger.close()
    assert not logger.log(record(1))
    assert logger.stats().dropped == 1


def test_normalise_accepts_dicts_and_numpy_values() -> None:
    import numpy as np

    r = normalise_record({"request_id": "a", "model": "m", "inputs": {"x": np.float32(1.5)},
                          "outputs": np.array([1, 2]), "error": "boom", "timestamp": 10.0})
    assert (r.inputs, r.outputs, r.status, r.time, r.version) == ({"x": 1.5}, [1, 2], "error",
                                                                  10.0, 0)
