"""The prediction log's writer process: the log's heavy work off the server's interpreter.

Writing a prediction (splitting a request into rows, JSON, the SQL insert, the health
buckets, the binned drift counts) costs tens of microseconds of Python per row. Done on a
thread of the serving process it competes for the GIL with the event loop, and at high
request rates that halves throughput. :class:`ProcessSink` moves it into a child process
(``python -m modelplane.workers.predlog_writer``): the serving process only appends each
answer to the logger's bounded buffer (see ``process``; a JSON request and its JSON
answer go as they are), and the logger's thread hands each buffer to the child's stdin.
The child turns it into rows (``rows.LogBatch``), writes them with
:meth:`MonitoringService.write_rows <modelplane.monitoring.service.MonitoringService.
write_rows>` in one transaction and answers how many answers it rejected.

Frames are a 4-byte big-endian length and a payload. The first frame carries the
settings (so the child opens the same database and artifact store), answered by
``{"ready": true}``; then a header ``{"seq", "gen", "count", "dropped", "keys"}`` followed
by a frame holding the buffer (``served.unpack`` reads it; ``keys`` names the model,
version, deployment and variant of each key), answered by ``{"seq", "rejected"}`` or
``{"seq", "error"}``. A child that fails or dies makes ``write`` raise: the logger
retries the batch with backoff and the next ``write`` starts a new child (a batch written
by a child that died before answering is written again: at least once). The child leaves
when its stdin closes, which also happens when the server is killed; it ignores SIGINT
and SIGTERM, so a stopping server can still hand over what it holds.
"""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

import orjson

__all__ = ["NICENESS", "ProcessSink", "receive", "receive_bytes", "send"]

log = logging.getLogger("modelplane.monitoring")

_HEADER = struct.Struct(">I")
_PIPE_BYTES = 1 << 20
NICENESS = 10
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if type(value) is bytes:  # a JSON request body, passed through unparsed
        return orjson.Fragment(value)
    to_dict = getattr(value, "to_dict", None)  # a DataFrame
    if callable(to_dict) and hasattr(value, "columns"):
        return to_dict("records")
    tolist = getattr(value, "tolist", None)  # numpy values orjson does not take natively
    if callable(tolist):
        return tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def send(stream: IO[bytes], value: Any, *, flush: bool = True) -> None:
    payload = dumps(value)
    stream.write(_HEADER.pack(len(payload)) + payload)
    if flush:
        stream.flush()


def receive(stream: IO[bytes]) -> Any:
    return orjson.loads(receive_bytes(stream))


def receive_bytes(stream: IO[bytes]) -> bytes:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the stream closed")
    (size,) = _HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("the stream closed in the middle of a frame")
    return payload


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _widen(stream: IO[bytes]) -> None:
    """A 1 MiB pipe (Linux): a batch goes over in one or two writes instead of sixteen
    64 KiB handovers, each waking the other side."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
    except (ImportError, OSError):
        pass


class ProcessSink:
    """The writer child's handle: hands a ``ProcessLogger``'s buffers to a child process
    (see the module docstring). ``generation`` returns a number that changes whenever a
    reference profile is set here, so the child forgets its cached ones."""

    def __init__(self, settings: Any, *, generation: Callable[[], int] | None = None,
                 start_timeout_s: float = 120.0) -> None:
        self._settings = settings.model_dump(mode="json")
        self._generation = generation or (lambda: 0)
        self._start_timeout = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._seq = 0
        self._pending = b""  # answer bytes read past the last frame
        self._lock = threading.Lock()
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        """Start the child now (``write`` starts it otherwise); never raises."""
        try:
            with self._lock:
                self._ensure()
        except Exception as exc:
            log.warning("prediction log: the writer process did not start: %s", exc)

    def write(self, entries: bytes | bytearray, count: int,
              dropped: dict[tuple[str, int], int], keys: list[Any]) -> int:
        """Hand ``count`` answers (``entries``: a buffer of ``served.SERVED`` entries whose
        keys ``keys`` names) and the drops to the child; returns how many it rejected.
        Raises when the child fails or dies (the caller retries; the next call starts a
        new child)."""
        with self._lock:
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            self._seq += 1
            header = {"seq": self._seq, "gen": self._generation(), "count": count,
                      "dropped": [[m, v, n] for (m, v), n in dropped.items()],
                      "keys": keys}
            head = dumps(header)
            # one write and one read per batch: each blocking call gives the GIL away
            # and takes it back from the event loop, which stalls it for a moment
            frame = b"".join((_HEADER.pack(len(head)), head,
                              _HEADER.pack(len(entries)), entries))
            try:
                _write_all(proc.stdin.fileno(), frame)
                reply = orjson.loads(self._read_frame(proc.stdout.fileno()))
            except (OSError, EOFError, ValueError) as exc:
                self._stop(kill=True)
                raise RuntimeError(f"the prediction log writer process stopped ({exc})"
                                   ) from None
            if not isinstance(reply, dict) or reply.get("seq") != self._seq:
                self._stop(kill=True)
                raise RuntimeError("the prediction log writer process answered out of turn")
            if "error" in reply:
                raise RuntimeError(str(reply["error"]))
            return int(reply.get("rejected", 0))

    def _read_frame(self, fd: int) -> bytes:
        data = self._pending
        while True:
            if len(data) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(data)
                if len(data) >= _HEADER.size + size:
                    self._pending = data[_HEADER.size + size:]
                    return data[_HEADER.size:_HEADER.size + size]
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("the writer process closed its answers")
            data += chunk

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stop(kill=True)
        self._pending = b""
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelplane.workers.predlog_writer"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        assert proc.stdin is not None and proc.stdout is not None
        _widen(proc.stdin)
        self._proc = proc
        self.starts += 1
        timer = threading.Timer(self._start_timeout, proc.kill)
        timer.start()
        try:
            send(proc.stdin, {"settings": self._settings})
            ready = receive(proc.stdout)
        except (OSError, EOFError, ValueError) as exc:
            self._stop(kill=True)
            raise RuntimeError(f"the prediction log writer process did not start ({exc})"
                               ) from None
        finally:
            timer.cancel()
        if not (isinstance(ready, dict) and ready.get("ready")):
            self._stop(kill=True)
            raise RuntimeError(f"the prediction log writer process did not start: {ready}")
        return proc

    def _stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if kill:
            proc.kill()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self, timeout: float = 10.0) -> None:
        """Let the child finish and leave (it exits when its stdin closes)."""
        with self._lock:
            self._stop(timeout=timeout)
