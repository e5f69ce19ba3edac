"""The subprocess executor: a pool of worker processes running independent branches of
the DAG at the same time.

Workers are ``python -m modelplane.workers.pipeline_step`` processes started once
per pool and fed tasks (cloudpickled) over a pipe, so each step pays no interpreter
start-up. A worker that dies (a crash, ``os._exit``, the OOM killer) fails only its task,
which is then retried like any failure, and is replaced; a task past its ``timeout`` has
its worker killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import struct
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import IO, Any

from modelplane.pipelines.executors.base import StepResult, StepTask

__all__ = ["SubprocessExecutor"]

_HEADER = struct.Struct("!II")
_GRACE_S = 10.0


def encode(task: StepTask) -> bytes:
    import cloudpickle

    header = json.dumps({"sys_path": task.sys_path, "settings": task.settings}).encode()
    body = cloudpickle.dumps(task)
    return _HEADER.pack(len(header), len(body)) + header + body


def read_message(stream: IO[bytes]) -> tuple[bytes, bytes] | None:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    n_header, n_body = _HEADER.unpack(head)
    return stream.read(n_header), stream.read(n_body)


class _Worker:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def ensure(self) -> subprocess.Popen[bytes]:
        if self.proc is not None and self.proc.poll() is not None:
            self.close()
        if self.proc is None:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelplane.workers.pipeline_step"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        return self.proc

    def run(self, task: StepTask) -> StepResult:
        import pickle

        proc = self.ensure()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(encode(task))
            proc.stdin.flush()
        except BrokenPipeError:
            return StepResult(error=f"worker exited with code {proc.wait()}")
        box: dict[str, Any] = {}
        stdout = proc.stdout
        reader = threading.Thread(target=lambda: box.update(msg=read_message(stdout)),
                                  daemon=True)
        reader.start()
        timeout = task.step.timeout
        reader.join(None if timeout is None else timeout + _GRACE_S)
        if reader.is_alive():
            proc.kill()
            reader.join()
            self.close()
            return StepResult(error=f"timed out after {timeout:g} s (worker killed)")
        message = box.get("msg")
        if message is None:
            return StepResult(error=f"worker exited with code {proc.wait()} while running "
                              "the step")
        result: StepResult = pickle.loads(message[1])
        return result

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the worker exits at end of input
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


class SubprocessExecutor:
    name = "subprocess"

    def __init__(self, workers: int | None = None) -> None:
        self.slots = max(1, workers or min(4, os.cpu_count() or 1))
        self._queue: queue.Queue[tuple[StepTask, Future[StepResult]] | None] = queue.Queue()
        self._workers = [_Worker() for _ in range(self.slots)]
        self._threads: list[threading.Thread] = []

    def bind(self, store: Any, services: Any = None) -> SubprocessExecutor:
        return self

    def _start(self) -> None:
        if self._threads:
            return
        for worker in self._workers:
            thread = threading.Thread(target=self._serve, args=(worker,), daemon=True,
                                      name="modelplane-step-worker")
            thread.start()
            self._threads.append(thread)

    def _serve(self, worker: _Worker) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                worker.close()
                return
            task, future = item
            try:
                future.set_result(worker.run(task))
            except BaseException as exc:  # keep the pool alive; the task fails
                future.set_result(StepResult(error=f"{type(exc).__name__}: {exc}"))

    def submit(self, task: StepTask) -> Future[StepResult]:
        self._start()
        future: Future[StepResult] = Future()
        self._queue.put((task, future))
        return future

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
