"""Dataset versioning: load any tabular input as Arrow, fingerprint it, describe it.

- :func:`to_arrow` accepts a pandas DataFrame/Series, a pyarrow Table/RecordBatch, any
  object exporting ``__arrow_c_stream__`` (polars, DuckDB), a dict of columns, a numpy
  array, or a path/fsspec URL of a Parquet (file or directory) or CSV/TSV file.
- :func:`canonical_digest`: sha256 over a canonical form, equal for equal data whatever
  its chunking, pandas index or origin (pandas or Arrow). Column order, names and
  normalised types count; schema metadata, nullability flags, dictionary encoding,
  string/binary widths and the timestamp unit (when nanoseconds hold it) do not. Not the
  raw IPC stream on purpose: bytes under null slots are undefined (pandas leaves NaN,
  Arrow builders zero), so validity is hashed as a byte per row, fixed-width values with
  null slots zeroed, strings as lengths plus bytes; nested types use the IPC stream.
- :func:`profile` summarises each column with vectorised numpy/pyarrow.compute; numeric
  columns get quantile bin edges and counts that later serve as a fixed-bin drift reference.
- :func:`describe` bundles all of it in a :class:`DatasetInfo`.

numpy, pyarrow and pandas are imported inside functions: ``import modelplane`` stays light.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["DatasetInfo", "canonical_digest", "describe", "profile", "schema_of", "to_arrow"]

DIGEST_VERSION = b"modelplane-dataset-digest-v1\n"
QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95,
             "p99": 0.99}
_ACCEPTED = ("a pandas DataFrame or Series, a pyarrow Table or RecordBatch, an Arrow stream "
             "object, a dict of columns, a numpy array, or a path/URL of a .parquet or .csv file")
_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".tsv")
_COMPRESSED = (".gz", ".bz2", ".zst", ".xz")


@dataclass(frozen=True)
class DatasetInfo:
    """What tracking records about a dataset: its fingerprint, shape, schema and profile."""

    digest: str
    name: str | None
    num_rows: int
    num_columns: int
    schema: list[dict[str, Any]]
    profile: dict[str, Any] | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_arrow(data: Any) -> pa.Table:
    """``data`` as a pyarrow Table (see the module docstring for what is accepted)."""
    return _load(data)[0]


def _load(data: Any) -> tuple[pa.Table, str]:
    import numpy as np
    import pyarrow as pa

    if isinstance(data, str | os.PathLike):
        return _read_file(os.fspath(data)), os.fspath(data)
    pd = sys.modules.get("pandas")  # a DataFrame implies pandas is already imported
    try:
        if pd is not None and isinstance(data, pd.Series):
            data = data.to_frame()
        if pd is not None and isinstance(data, pd.DataFrame):
            return _from_pandas(data), "dataframe"
        if isinstance(data, pa.Table):
            return data, "dataframe"
        if isinstance(data, pa.RecordBatch):
            return pa.Table.from_batches([data]), "dataframe"
        if isinstance(data, dict):
            return pa.table({str(k): v for k, v in data.items()}), "dataframe"
        if isinstance(data, np.ndarray):
            return _from_numpy(data), "dataframe"
        if hasattr(data, "__arrow_c_stream__"):
            return pa.table(data), "dataframe"
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"dataset: cannot convert {type(data).__name__} to Arrow: "
                                   f"{exc}", details={"field": "data"}) from exc
    raise InvalidArgumentError(
        f"dataset: unsupported type {type(data).__name__}; expected {_ACCEPTED}",
        details={"field": "data", "type": type(data).__name__})


def _from_pandas(df: Any) -> pa.Table:
    """Named index levels become columns; an unnamed index (RangeIndex or not) is dropped."""
    import pyarrow as pa

    named = [n for n in df.index.names if n is not None]
    if named:
        df = df.reset_index(level=named)
    return pa.Table.from_pandas(df, preserve_index=False)


def _from_numpy(array: np.ndarray) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    if array.dtype.names:
        return pa.table({name: array[name] for name in array.dtype.names})
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"a numpy array must be 1- or 2-D, got {array.ndim}-D")
    columns = np.ascontiguousarray(array.T)
    return pa.table({f"f{i}": columns[i] for i in range(columns.shape[0])})


def _read_file(location: str) -> pa.Table:
    import fsspec
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    lower = location.lower().rstrip("/")
    base = next((lower[: -len(s)] for s in _COMPRESSED if lower.endswith(s)), lower)
    details = {"field": "data", "path": location}
    try:
        fs, path = fsspec.core.url_to_fs(location)
        if not fs.exists(path):
            raise NotFoundError(f"dataset: no file at {location!r}", details=details)
        if base.endswith(_PARQUET) or fs.isdir(path):
            return pq.read_table(path, filesystem=fs)
        if base.endswith(_CSV):
            parse = pacsv.ParseOptions(delimiter="\t" if base.endswith(".tsv") else ",")
            with fsspec.open(location, "rb", compression="infer") as fh:
                return pacsv.read_csv(fh, parse_options=parse)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidArgumentError(f"dataset: cannot read {location!r}: {exc}",
                                   details=details) from exc
    raise InvalidArgumentError(
        f"dataset: cannot tell the format of {location!r}; expected a name ending in "
        f"{', '.join(_PARQUET + _CSV)} (CSV optionally compressed) or a Parquet directory",
        details=details)


def _normalise(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """One type per kind of data: dictionaries decoded, strings and binaries large,
    timestamps in nanoseconds when the values fit."""
    import pyarrow as pa

    t = column.type
    if pa.types.is_dictionary(t):
        return _normalise(column.cast(t.value_type))
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
    columns = [_normalise(c) for c in table.columns]
    header = {"rows": table.num_rows,
              "columns": [[n, str(c.type)] for n, c in zip(table.column_names, columns,
                                                            strict=True)]}
    h = hashlib.sha256(DIGEST_VERSION)
    h.update(json.dumps(header, separators=(",", ":")).encode())
    for column in columns:
        for part in _column_parts(column):
            h.update(part)
    return h.hexdigest()


def schema_of(table: pa.Table) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema]


def profile(table: pa.Table, *, bins: int = 20, top_k: int = 50) -> dict[str, Any]:
    """A JSON-serialisable summary of every column (NaN and infinities become None).

    Each column has ``name``, ``kind`` (numeric, categorical, boolean, datetime, other),
    ``count`` (rows) and ``null_count``, plus by kind:

    - numeric: ``min``, ``max``, ``mean``, ``std`` (sample, ddof=1), ``non_finite_count``
      (NaN/inf, left out of every statistic), ``quantiles`` (p01 ... p99, linear as
      ``numpy.quantile``), ``bin_edges`` (the ``bins`` + 1 quantile edges, deduplicated;
      ``[v, v]`` for a constant column) and ``bin_counts``. Bin ``i`` holds
      ``edges[i] <= x < edges[i + 1]``, the last bin also ``x == edges[-1]``, so the counts
      sum to the finite non-null values. Used as a drift reference, later values below
      ``edges[0]`` or above ``edges[-1]`` are out of range and counted apart.
    - categorical (strings, dictionaries): ``distinct_count``, ``frequencies`` (the ``top_k``
      most frequent values, most frequent first, ties by value) and ``other_count``
      (every other non-null value).
    - boolean: ``true_count``, ``false_count``.
    - datetime: ``min`` and ``max`` as ISO-8601 strings.
    """
    if bins < 1 or top_k < 0:
        raise InvalidArgumentError("profile: bins must be >= 1 and top_k >= 0",
                                   details={"field": "bins" if bins < 1 else "top_k"})
    def one(i: int) -> dict[str, Any]:
        return _profile_column(table.column_names[i], _normalise(table.column(i)), bins, top_k)

    indexes = range(table.num_columns)
    workers = min(os.cpu_count() or 1, 8, table.num_columns)
    if workers < 2 or table.num_rows < 50_000:
        return {"num_rows": table.num_rows, "columns": [one(i) for i in indexes]}
    with ThreadPoolExecutor(workers) as pool:  # numpy sorts and Arrow kernels release the GIL
        return {"num_rows": table.num_rows, "columns": list(pool.map(one, indexes))}


def _kind(t: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_large_string(t):
        return "categorical"
    return "other"


def _profile_column(name: str, col: pa.ChunkedArray, bins: int, top_k: int) -> dict[str, Any]:
    kind = _kind(col.type)
    out: dict[str, Any] = {"name": name, "kind": kind, "count": len(col),
                           "null_count": col.null_count}
    non_null = len(col) - col.null_count
    if kind == "numeric":
        out.update(_numeric(col, bins))
    elif kind == "categorical":
        out.update(_categorical(col, non_null, top_k))
    elif kind == "boolean":
        import pyarrow.compute as pc

        true_count = int(pc.sum(col).as_py() or 0)
        out.update(true_count=true_count, false_count=non_null - true_count)
    elif kind == "datetime":
        out.update(_datetime_range(col))
    return out


def _num(value: Any) -> float | None:
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _numeric(col: pa.ChunkedArray, bins: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    if pa.types.is_decimal(col.type):
        col = col.cast(pa.float64())
    values = col.drop_null().to_numpy()
    non_finite = 0
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        non_finite = int(values.size - np.count_nonzero(finite))
        if non_finite:
            values = values[finite]
    stats: dict[str, Any] = {"non_finite_count": non_finite}
    n = values.size
    if n == 0:
        return {**stats, "min": None, "max": None, "mean": None, "std": None,
                "quantiles": dict.fromkeys(QUANTILES), "bin_edges": [], "bin_counts": []}
    ordered = np.sort(values)
    floats = ordered.astype(np.float64, copy=False)
    probs = np.concatenate([np.linspace(0.0, 1.0, bins + 1), list(QUANTILES.values())])
    position = probs * (n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    cuts = floats[low] + (floats[high] - floats[low]) * (position - low)
    edges = np.unique(cuts[: bins + 1])
    if edges.size == 1:
        edges = np.repeat(edges, 2)
    starts = np.searchsorted(floats, edges, side="left")
    counts = np.diff(starts)
    counts[-1] = n - starts[-2]  # the last bin is closed on the right
    return {
        **stats,
        "min": ordered[0].item(), "max": ordered[-1].item(),
        "mean": _num(np.mean(floats)), "std": _num(np.std(floats, ddof=1)) if n > 1 else None,
        "quantiles": {k: _num(v) for k, v in zip(QUANTILES, cuts[bins + 1:], strict=True)},
        "bin_edges": [_num(e) for e in edges], "bin_counts": [int(c) for c in counts],
    }


def _categorical(col: pa.ChunkedArray, non_null: int, top_k: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    counted = col.drop_null().value_counts()
    table = pa.Table.from_arrays([counted.field("values"), counted.field("counts")],
                                 names=["value", "n"])
    keys = [("n", "descending"), ("value", "ascending")]
    top = table.take(pc.select_k_unstable(table, min(top_k, len(table)), sort_keys=keys))
    top = top.take(pc.sort_indices(top, sort_keys=keys))
    frequencies = dict(zip(top["value"].to_pylist(), top["n"].to_pylist(), strict=True))
    return {"distinct_count": len(table), "frequencies": frequencies,
            "other_count": non_null - sum(frequencies.values())}


def _datetime_range(col: pa.ChunkedArray) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(col.type) and col.type.unit == "ns":  # as_py() would need pandas
        col = col.cast(pa.timestamp("us", tz=col.type.tz), safe=False)
    bounds = pc.min_max(col).as_py()
    return {k: None if bounds[k] is None else bounds[k].isoformat() for k in ("min", "max")}


def describe(data: Any, *, name: str | None = None, with_profile: bool = True,
             bins: int = 20, top_k: int = 50) -> DatasetInfo:
    """Load ``data`` and record its digest, shape, schema, profile and source (the path or
    URL, or ``"dataframe"`` for in-memory data). A file's name defaults to its stem."""
    table, source = _load(data)
    if name is None and source != "dataframe":
        stem = os.path.basename(source.rstrip("/"))
        name = stem.split(".")[0] or None
    return DatasetInfo(
        digest=canonical_digest(table), name=name, num_rows=table.num_rows,
        num_columns=table.num_columns, schema=schema_of(table),
        profile=profile(table, bins=bins, top_k=top_k) if with_profile else None,
        source=source)
