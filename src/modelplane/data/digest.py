"""A dataset's fingerprint: sha256 over a canonical form of an Arrow table.

Equal for equal data whatever its chunking, pandas index or origin (pandas or Arrow).
Column order, names and normalised types count; schema metadata, nullability flags,
dictionary encoding, string/binary widths and the timestamp unit (when nanoseconds hold
it) do not. Not the raw IPC stream on purpose: bytes under null slots are undefined
(pandas leaves NaN, Arrow builders zero), so validity is hashed as a byte per row,
fixed-width values with null slots zeroed, strings as lengths plus bytes; nested types
use the IPC stream.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["canonical_digest", "normalise"]

DIGEST_VERSION = b"modelplane-dataset-digest-v1\n"


def normalise(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """One type per kind of data: dictionaries decoded, strings and binaries large,
    timestamps in nanoseconds when the values fit."""
    import pyarrow as pa

    t = column.type
    if pa.types.is_dictionary(t):
        return normalise(column.cast(t.value_type))
    if pa.types.is_string(t) or pa.types.is_string_view(t):
        return column.cast(pa.large_string())
    if pa.types.is_binary(t) or pa.types.is_binary_view(t):
        return column.cast(pa.large_binary())
    if pa.types.is_timestamp(t) and t.unit != "ns":
        try:
            return column.cast(pa.timestamp("ns", tz=t.tz))
        except pa.ArrowInvalid:  # out of the nanosecond range: keep the unit
            return column
    return column


def _column_parts(column: pa.ChunkedArray) -> Iterator[Any]:
    """The canonical bytes of one column, as buffers to feed a hash in order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    chunks = [c for c in column.chunks if len(c)]
    yield struct.pack("<qq", len(column), column.null_count)
    valid = [pc.is_valid(c).to_numpy(zero_copy_only=False) if c.null_count else None
             for c in chunks]
    if column.null_count:
        yield from (np.ones(len(c), np.bool_) if v is None else v for c, v in zip(chunks, valid,
                                                                                 strict=True))
    if pa.types.is_boolean(t):
        yield from (pc.fill_null(c, False).to_numpy(zero_copy_only=False) for c in chunks)
    elif pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        filled = [pc.fill_null(c, "" if pa.types.is_large_string(t) else b"") for c in chunks]
        offsets = [np.frombuffer(c.buffers()[1], np.int64)[c.offset: c.offset + len(c) + 1]
                   for c in filled]
        yield from (np.diff(o) for o in offsets)
        for c, o in zip(filled, offsets, strict=True):
            data = c.buffers()[2]
            if data is not None and o[-1] > o[0]:
                yield memoryview(data)[o[0]: o[-1]]
    elif pa.types.is_null(t):
        return
    elif _byte_width(t):
        width = _byte_width(t)
        for c, v in zip(chunks, valid, strict=True):
            buf = c.buffers()[1]
            if buf is None:  # all-null arrays may have no value buffer
                yield np.zeros(len(c) * width, np.uint8)
                continue
            raw = np.frombuffer(buf, np.uint8)[c.offset * width: (c.offset + len(c)) * width]
            if v is not None:
                raw = raw.reshape(len(c), width).copy()
                raw[~v] = 0
            yield raw
    else:
        sink = pa.BufferOutputStream()
        batch = pa.record_batch([column.combine_chunks()], names=["c"])
        with pa.ipc.new_stream(sink, batch.schema,
                               options=pa.ipc.IpcWriteOptions(compression=None)) as writer:
            writer.write_batch(batch)
        yield sink.getvalue()


def _byte_width(t: pa.DataType) -> int:
    try:
        bits = int(t.bit_width)
    except ValueError:
        return 0
    return bits // 8 if bits % 8 == 0 else 0


def canonical_digest(table: pa.Table) -> str:
    """sha256 hex of ``table``'s canonical form (see the module docstring)."""
    columns = [normalise(c) for c in table.columns]
    header = {"rows": table.num_rows,
              "columns": [[n, str(c.type)] for n, c in zip(table.column_names, columns,
                                                            strict=True)]}
    h = hashlib.sha256(DIGEST_VERSION)
    h.update(json.dumps(header, separators=(",", ":")).encode())
    for column in columns:
        for part in _column_parts(column):
            h.update(part)
    return h.hexdigest()
