"""Dynamic batching: concurrent requests for one model merged into one model call.

A :class:`DynamicBatcher` owns a queue and one worker task on the event loop. Requests
``submit`` an item (a prepared input of ``rows`` rows) and await its result; the worker
hands a list of items to ``fn`` (which concatenates, predicts once and splits) on the
batcher's executor, off the event loop, and resolves each request with its own share.

The policy is adaptive, so a lone request is never held back:

- when the model is free, the worker takes everything queued, up to ``max_batch_size``
  rows (a request larger than that runs alone);
- it waits for company (at most ``max_wait``) only when demand says company is coming:
  while the previous batch ran, more requests were outstanding than the worker now holds
  (closed-loop clients whose answers just went out send again within microseconds). At
  concurrency 1 that number is 1, so the request runs at once;
- while a batch runs, new requests queue up and form the next batch.

``concurrency`` batches run at once (1 with the default single-thread executor: one model
call at a time per model, which also keeps BLAS and scikit-learn from oversubscribing the
cores; N with a process pool of N). When ``fn`` raises on a batch of several requests,
each runs again alone, so an exception fails only the request that causes it; the
worker carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from modelplane.core.errors import InvalidStateError

__all__ = ["BatchFn", "DynamicBatcher"]

#: ``fn(items) -> results``: one result per item, in order.
BatchFn = Callable[[list[Any]], list[Any]]


class _Pending:
    __slots__ = ("future", "item", "rows")

    def __init__(self, item: Any, rows: int, future: asyncio.Future[Any]) -> None:
        self.item = item
        self.rows = rows
        self.future = future


class DynamicBatcher:
    """Merge concurrent ``submit`` calls into calls of ``fn`` (see the module docstring).

    ``on_batch(rows)`` is called for every batch run (metrics); ``queue_depth`` is the
    number of rows waiting. Build it inside the running event loop, or call ``start``
    from one.
    """

    def __init__(self, fn: BatchFn, *, max_batch_size: int = 64, max_wait: float = 0.002,
                 executor: Executor | None = None, concurrency: int = 1,
                 name: str = "model", on_batch: Callable[[int], None] | None = None) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if max_wait < 0:
            raise ValueError("max_wait must be >= 0")
        self.fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.name = name
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix=f"mp-{name}")
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._on_batch = on_batch
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._outstanding = 0  # rows submitted and not answered yet
        self._peak = 0  # most rows outstanding since the current batch was taken
        self._executing = 0  # rows in batches running now
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False
        self.batches = 0

    # -- public ------------------------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        return self._queued_rows

    @property
    def outstanding(self) -> int:
        return self._outstanding

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    def submit(self, item: Any, rows: int = 1) -> asyncio.Future[Any]:
        """Queue ``item`` (``rows`` rows); the returned future resolves to its result."""
        if self._closed:
            raise InvalidStateError(f"the batcher for {self.name} is closed")
        if self._task is None:
            self.start()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(item, rows, future))
        self._queued_rows += rows
        self._outstanding += rows
        if self._outstanding > self._peak:
            self._peak = self._outstanding
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        return future

    async def close(self) -> None:
        """Finish what is queued and running, then stop the worker (and its own executor)."""
        self._closed = True
        while self._queue or self._running:
            wake = self._wake
            if wake is not None and not wake.done():
                wake.set_result(None)
            await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._own_executor:
            self._executor.shutdown(wait=False)

    # -- worker ------------------------------------------------------------------------
    async def _sleep_until_woken(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        handle = None
        if timeout is not None:
            handle = loop.call_later(timeout, _resolve, wake)
        try:
            await wake
        finally:
            if handle is not None:
                handle.cancel()
            self._wake = None

    def _take(self, batch: list[_Pending], rows: int) -> int:
        queue, limit = self._queue, self.max_batch_size
        while queue and (rows == 0 or rows + queue[0].rows <= limit):
            pending = queue.popleft()
            batch.append(pending)
            rows += pending.rows
            self._queued_rows -= pending.rows
        return rows

    async def _gather(self, batch: list[_Pending], rows: int, target: int) -> int:
        """Wait (at most ``max_wait``) for requests that demand says are on their way."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while rows < target and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._sleep_until_woken(remaining)
            before = rows
            rows = self._take(batch, rows)
            if rows == before and self._queue:  # the next one does not fit
                break
        return rows

    async def _loop(self) -> None:
        while True:
            if not self._queue:
                await self._sleep_until_woken(None)
                continue
            await self._slots.acquire()
            batch: list[_Pending] = []
            rows = self._take(batch, 0)
            if not batch:
                self._slots.release()
                continue
            target = min(self._peak - self._executing, self.max_batch_size)
            if rows < target and self.max_wait > 0 and not self._queue:
                rows = await self._gather(batch, rows, target)
            self._peak = self._outstanding
            self._executing += rows
            task = asyncio.get_running_loop().create_task(self._execute(batch, rows))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _one_by_one(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending],
                          exc: Exception) -> None:
        """A failed batch of several requests runs again one request at a time, so one
        request's bad input fails that request only, not the others batched with it."""
        if len(batch) == 1:
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        for pending in batch:
            if pending.future.done():
                continue
            try:
                results = await loop.run_in_executor(self._executor, self.fn, [pending.item])
                pending.future.set_result(results[0])
            except Exception as alone:
                pending.future.set_exception(alone)

    async def _execute(self, batch: list[_Pending], rows: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.batches += 1
            if self._on_batch is not None:
                with contextlib.suppress(Exception):  # metrics never fail a batch
                    self._on_batch(rows)
            items = [p.item for p in batch]
            try:
                results = await loop.run_in_executor(self._executor, self.fn, items)
                if len(results) != len(batch):
                    raise InvalidStateError(
                        f"the batch function returned {len(results)} results for "
                        f"{len(batch)} requests")
            except BaseException as exc:  # the batch fails; the worker goes on
                if not isinstance(exc, Exception):
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.set_exception(exc)
                    raise
                await self._one_by_one(loop, batch, exc)
                return
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)
        finally:
            self._outstanding -= rows
            self._executing -= rows
            self._slots.release()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
