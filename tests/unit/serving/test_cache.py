"""The prediction cache: LRU, bounded in entries and bytes, keyed by model digest."""

from __future__ import annotations

import numpy as np
import pytest

from modelplane.serving.cache import PredictionCache, input_hash

A, B = "a" * 64, "b" * 64


def result(value: float, rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    return np.full(rows, value), np.full((rows, 2), value)


def test_hit_miss_and_lru_order() -> None:
    cache = PredictionCache(max_entries=2)
    k1, k2, k3 = (input_hash(np.array([[float(i)]])) for i in range(3))
    assert k1 and k2 and k3
    cache.put(A, k1, result(1))
    cache.put(A, k2, result(2))
    assert cache.get(A, k1)[0][0] == 1  # k1 is now the most recent
    cache.put(A, k3, result(3))  # evicts k2, the least recently used
    assert cache.get(A, k2) is None
    assert cache.get(A, k1) is not None and cache.get(A, k3) is not None
    assert len(cache) == 2 and cache.hits == 3 and cache.misses == 1


def test_a_new_version_never_answers_from_the_old_one() -> None:
    cache = PredictionCache(max_entries=10)
    key = input_hash(np.array([[1.0, 2.0]]))
    assert key is not None
    cache.put(A, key, result(1))
    assert cache.get(B, key) is None  # same input, another digest: a miss
    cache.put(B, key, result(2))
    assert cache.get(A, key)[0][0] == 1 and cache.get(B, key)[0][0] == 2
    assert cache.drop(A) == 1 and cache.get(A, key) is None and cache.get(B, key) is not None


def test_bounded_in_bytes() -> None:
    cache = PredictionCache(max_entries=1000, max_bytes=20_000)
    for i in range(100):
        cache.put(A, input_hash(np.array([[float(i)]])) or b"", result(i, rows=100))
    assert cache.size_bytes <= 20_000
    assert 0 < len(cache) < 100
    too_big = result(0, rows=10_000)  # larger than the whole cache: not kept
    cache.put(A, b"x" * 16, too_big)
    assert cache.get(A, b"x" * 16) is None


def test_values_are_copies_so_batches_are_not_pinned() -> None:
    batch = np.arange(1000.0)
    cache = PredictionCache(max_entries=10)
    cache.put(A, b"k" * 16, (batch[:1], None))
    stored = cache.get(A, b"k" * 16)[0]
    assert stored.base is None and stored.nbytes == 8


def test_input_hash_is_canonical() -> None:
    one = input_hash(np.array([[1.0, 2.0]]))
    assert one == input_hash(np.array([[1.0, 2.0]]))
    assert one != input_hash(np.array([[2.0, 1.0]]))
    assert one != input_hash(np.array([[1.0, 2.0]], dtype=np.float32))  # dtype counts
    cols = {"b": np.array([2.0]), "a": np.array([1.0])}
    assert input_hash(cols) == input_hash({"a": np.array([1.0]), "b": np.array([2.0])})
    assert input_hash(np.array([["x", None]], dtype=object)) is not None
    assert input_hash(object()) is None


def test_invalid_bounds() -> None:
    with pytest.raises(ValueError):
        PredictionCache(max_entries=0)
