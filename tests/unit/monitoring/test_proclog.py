"""ProcessLogger's buffer: answers are encoded at once (a served JSON request and its
JSON answer kept as they are), the bound drops and counts per model and version without
blocking, a failing writer is retried, flush waits."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import orjson

from modelplane.monitoring.predlog.process import ProcessLogger
from modelplane.monitoring.predlog.served import GENERAL, answer, unpack


class Writer:
    """Stands in for the writer process (its real one is in tests/contract)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.fail = 0
        self.batches: list[list[Any]] = []
        self.drops: dict[tuple[str, int], int] = {}

    def write(self, entries: bytes | bytearray, count: int,
              dropped: dict[tuple[str, int], int], keys: list[Any]) -> int:
        self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the writer died")
        batch = [orjson.loads(body) if key == GENERAL
                 else (*keys[key], rid, body, response, seconds, at)
                 for key, rid, body, response, seconds, at in unpack(entries)]
        assert len(batch) == count
        self.batches.append(batch)
        for key, n in dropped.items():
            self.drops[key] = self.drops.get(key, 0) + n
        return 0

    def close(self, timeout: float = 10.0) -> None:
        pass


def served(i: int, version: int = 1) -> tuple[Any, ...]:
    return answer("m", version, f"r{i}", b'{"x": %d}' % i,
                  (np.array([i]), np.array([[0.5, 0.5]])), 0.001)


def test_answers_are_encoded_at_once_and_written_in_order() -> None:
    writer = Writer()
    logger = ProcessLogger(writer, batch_size=10, flush_interval_s=0.02)  # type: ignore[arg-type]
    for i in range(35):
        assert logger.log(served(i))
    assert logger.flush(10)
    rows = [e for batch in writer.batches for e in batch]
    assert [e[2] for e in rows] == [f"r{i}" for i in range(35)]
    assert rows[3][3] == {"x": 3} and rows[3][4] == [3]  # the body as sent, plain arrays
    assert logger.stats().written == 35
    logger.close()


def test_a_full_buffer_drops_and_counts_without_blocking() -> None:
    writer = Writer()
    writer.gate.clear()  # the writer is stuck
    logger = ProcessLogger(writer, capacity=5, batch_size=1000,  # type: ignore[arg-type]
                           flush_interval_s=0.01)
    assert logger.log(served(0))
    assert logger.flush(0.2) is False  # the first answer is with the stuck writer
    accepted = sum(logger.log(served(i, version=2)) for i in range(1, 21))
    assert accepted == 5 and logger.stats().dropped == 15
    writer.gate.set()
    assert logger.flush(10)
    assert writer.drops == {("m", 2): 15}
    assert logger.stats().written == 6
    logger.close()


def test_a_failing_writer_is_retried_and_nothing_is_lost() -> None:
    writer = Writer()
    writer.fail = 2
    logger = ProcessLogger(writer, batch_size=5, flush_interval_s=0.01,  # type: ignore[arg-type]
                           max_backoff_s=0.05)
    for i in range(12):
        logger.log(served(i))
    assert logger.flush(10)
    assert sum(len(b) for b in writer.batches) == 12
    assert logger.stats().failed == 0
    logger.close()


def test_what_cannot_be_encoded_is_rejected_not_raised() -> None:
    writer = Writer()
    logger = ProcessLogger(writer, flush_interval_s=0.01)  # type: ignore[arg-type]
    loop: list[Any] = []
    loop.append(loop)
    assert logger.log(answer("m", 1, "cycle", loop, None, 0.1)) is False
    assert logger.log(answer("m", 1, "set", {"x": {1, 2}}, None, 0.1)) is True  # as text
    assert logger.flush(10)
    assert logger.stats().rejected == 1 and logger.stats().written == 1
    logger.close()


def test_a_served_json_request_and_answer_go_as_they_are() -> None:
    writer = Writer()
    logger = ProcessLogger(writer, batch_size=100, flush_interval_s=0.01)  # type: ignore[arg-type]
    body, response = b'{"x": 1.5,  "y": "a"}', b'{"predictions":[1],"probabilities":[[0.2,0.8]]}'
    assert logger.log_served("m", 3, "r1", body, response, 0.002, "dep", "canary")
    assert logger.log_served("m", 3, "r2", body, response, 0.003)
    assert logger.log(served(3))  # anything else: the JSON of its tuple, in the same buffer
    assert logger.flush(10)
    [first, second, third] = writer.batches[0]
    assert first[:8] == ("m", 3, "dep", "canary", "r1", body, response, 0.002)
    assert second[:4] == ("m", 3, None, None) and second[4] == "r2"
    assert third[2] == "r3" and third[3] == {"x": 3}
    logger.close()


def test_served_answers_count_against_the_bound_and_drop_per_version() -> None:
    writer = Writer()
    writer.gate.clear()
    logger = ProcessLogger(writer, capacity=1000, max_bytes=300,  # type: ignore[arg-type]
                           batch_size=1000, flush_interval_s=0.01)
    body, response = b'{"x": 1}' * 10, b'{"predictions":[1]}'
    accepted = sum(logger.log_served("m", 7, f"r{i}", body, response, 0.001)
                   for i in range(10))
    assert 0 < accepted < 10  # bounded by bytes, never blocked
    writer.gate.set()
    assert logger.flush(10)
    assert writer.drops == {("m", 7): 10 - accepted}
    logger.close()
