"""The dynamic batcher: merging, splitting, adaptive waiting, failures."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from modelplane.serving.batching import DynamicBatcher


class Recorder:
    """A batch function that doubles its items, records batch sizes, can be slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[Any]] = []
        self.threads: set[str] = set()

    def __call__(self, items: list[Any]) -> list[Any]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(items))
        if self.delay:
            time.sleep(self.delay)
        if any(item == "boom" for item in items):
            raise ValueError("the model failed")
        return [item * 2 for item in items]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_concurrent_requests_are_merged_and_split_back_in_order() -> None:
    fn = Recorder(delay=0.02)

    async def main() -> list[Any]:
        batcher = DynamicBatcher(fn, max_batch_size=64, max_wait=0.01)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(40)))
        await batcher.close()
        return results

    assert run(main()) == [i * 2 for i in range(40)]
    assert sum(len(b) for b in fn.batches) == 40
    assert len(fn.batches) <= 3  # merged, not 40 model calls
    assert all(t.startswith("mp-") for t in fn.threads)  # off the event loop


def test_batches_respect_max_batch_size_in_rows() -> None:
    fn = Recorder(delay=0.005)

    async def main() -> None:
        batcher = DynamicBatcher(fn, max_batch_size=8, max_wait=0.0)
        await asyncio.gather(*(batcher.submit(i, rows=3) for i in range(10)))
        big = await batcher.submit(100, rows=20)  # larger than a batch: runs alone
        assert big == 200
        await batcher.close()

    run(main())
    assert all(len(b) * 3 <= 8 for b in fn.batches[:-1])
    assert fn.batches[-1] == [100]


def test_a_lone_request_is_not_held_back_by_max_wait() -> None:
    fn = Recorder()

    async def main() -> list[float]:
        batcher = DynamicBatcher(fn, max_batch_size=64, max_wait=1.0)
        times = []
        for i in range(5):  # sequential: concurrency 1
            started = time.perf_counter()
            assert await batcher.submit(i) == i * 2
            times.append(time.perf_counter() - started)
        await batcher.close()
        return times

    assert max(run(main())) < 0.2  # max_wait is 1 s: none of it was spent


def test_under_concurrent_load_the_worker_waits_for_company() -> None:
    """Closed-loop clients: after the first round, batches gather the whole crowd."""
    fn = Recorder(delay=0.002)

    async def client(batcher: DynamicBatcher, rounds: int) -> None:
        for i in range(rounds):
            await batcher.submit(i)
            await asyncio.sleep(0.0005)  # the network round trip

    async def main() -> None:
        batcher = DynamicBatcher(fn, max_batch_size=64, max_wait=0.02)
        await asyncio.gather(*(client(batcher, 10) for _ in range(16)))
        await batcher.close()

    run(main())
    sizes = [len(b) for b in fn.batches]
    assert sum(sizes) == 160
    assert sum(sizes[2:]) / len(sizes[2:]) >= 8  # mostly full rounds, not trickles


def test_a_failing_batch_fails_only_the_bad_request_and_the_worker_goes_on() -> None:
    """A batch that fails runs again one request at a time: only the request the model
    cannot take fails (one caller's bad row never fails its neighbours)."""
    fn = Recorder(delay=0.01)

    async def main() -> None:
        batcher = DynamicBatcher(fn, max_batch_size=4, max_wait=0.0)
        first = batcher.submit(1)
        await asyncio.sleep(0)  # the first batch starts with [1] alone
        doomed = [batcher.submit(x) for x in ("boom", 2)]
        results = await asyncio.gather(first, *doomed, return_exceptions=True)
        assert results[0] == 2
        assert isinstance(results[1], ValueError)
        assert results[2] == 4
        assert await batcher.submit(21) == 42  # still serving
        await batcher.close()

    run(main())


def test_wrong_result_count_fails_the_batch_not_the_worker() -> None:
    calls = []

    def short(items: list[Any]) -> list[Any]:
        calls.append(len(items))
        return [] if len(calls) == 1 else [i for i in items]

    async def main() -> None:
        batcher = DynamicBatcher(short, max_batch_size=4, max_wait=0.0)
        with pytest.raises(Exception, match="returned 0 results"):
            await batcher.submit(1)
        assert await batcher.submit(5) == 5
        await batcher.close()

    run(main())


def test_batch_observer_and_queue_depth() -> None:
    fn = Recorder(delay=0.01)
    seen: list[int] = []

    async def main() -> None:
        batcher = DynamicBatcher(fn, max_batch_size=64, max_wait=0.0, on_batch=seen.append)
        futures = [batcher.submit(i) for i in range(5)]
        assert batcher.queue_depth == 5 and batcher.outstanding == 5
        await asyncio.gather(*futures)
        assert batcher.queue_depth == 0 and batcher.outstanding == 0
        await batcher.close()

    run(main())
    assert sum(seen) == 5


def test_closed_batcher_refuses_new_work() -> None:
    async def main() -> None:
        batcher = DynamicBatcher(Recorder(), max_batch_size=4)
        assert await batcher.submit(1) == 2
        await batcher.close()
        with pytest.raises(Exception, match="closed"):
            batcher.submit(2)

    run(main())


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        DynamicBatcher(Recorder(), max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait"):
        DynamicBatcher(Recorder(), max_wait=-1)
