"""The prediction cache: LRU over (model digest, canonical input hash), bounded twice.

Opt-in per served model. The key starts with the artifact digest of the version that
computed the answer, so a new version (another digest) can never be answered from an
old version's entries; they simply age out. The input hash is taken over the *prepared*
input (columns already in signature order and cast to signature dtypes), so the same
record sent with its keys in another order, or ``1`` for ``1.0``, is the same entry.

Bounded in entries and in bytes (keys plus stored arrays); the least recently used
entries go first. Thread-safe (a lock around an ``OrderedDict``); values are copied on
``put``, so a cached slice never pins a whole batch's output in memory.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["PredictionCache", "input_hash"]

_ENTRY_OVERHEAD = 200  # bytes of bookkeeping per entry, roughly


def _update(h: Any, value: Any) -> bool:
    """Feed ``value`` to the hash; False when it has no canonical form."""
    if isinstance(value, np.ndarray):
        h.update(f"{value.dtype.str}{value.shape}".encode())
        if value.dtype.kind == "O":
            try:
                h.update(repr(value.tolist()).encode())
            except Exception:  # a value whose repr fails is simply not cached
                return False
        else:
            h.update(np.ascontiguousarray(value).data)
        return True
    if isinstance(value, dict):
        for key in sorted(value):
            h.update(f"\x00{key}\x00".encode())
            if not _update(h, value[key]):
                return False
        return True
    if type(value).__module__.startswith("pandas") and hasattr(value, "columns"):
        return _update(h, {str(c): value[c].to_numpy() for c in value.columns})
    if isinstance(value, list):
        h.update(repr(value).encode())
        return True
    return False


def input_hash(prepared: Any) -> bytes | None:
    """A 16-byte hash of a prepared input, or None when it cannot be hashed canonically."""
    h = hashlib.blake2b(digest_size=16)
    return h.digest() if _update(h, prepared) else None


def _size(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + (64 * value.size if value.dtype.kind == "O" else 0)
    if isinstance(value, tuple | list):
        return sum(_size(v) for v in value)
    return 64


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    return value


class PredictionCache:
    """LRU of results by ``(digest, input hash)``, at most ``max_entries`` and ``max_bytes``."""

    def __init__(self, max_entries: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a prediction cache needs max_entries >= 1 and max_bytes >= 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[tuple[str, bytes], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, digest: str, key: bytes) -> Any | None:
        with self._lock:
            entry = self._data.get((digest, key))
            if entry is None:
                self.misses += 1
                return None
            self._data.move_to_end((digest, key))
            self.hits += 1
            return entry[0]

    def put(self, digest: str, key: bytes, value: Any) -> None:
        size = _size(value) + len(key) + len(digest) + _ENTRY_OVERHEAD
        if size > self.max_bytes:
            return  # one answer larger than the whole cache is not kept
        value = _copy(value)
        with self._lock:
            old = self._data.pop((digest, key), None)
            if old is not None:
                self._bytes -= old[1]
            self._data[(digest, key)] = (value, size)
            self._bytes += size
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, dropped) = self._data.popitem(last=False)
                self._bytes -= dropped

    def drop(self, digest: str) -> int:
        """Forget every entry of ``digest`` (a version no longer served); how many went."""
        with self._lock:
            doomed = [k for k in self._data if k[0] == digest]
            for k in doomed:
                self._bytes -= self._data.pop(k)[1]
        return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
