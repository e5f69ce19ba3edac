"""Any tabular input as a pyarrow Table.

:func:`to_arrow` accepts a pandas DataFrame/Series, a pyarrow Table/RecordBatch, any
object exporting ``__arrow_c_stream__`` (polars, DuckDB), a dict of columns, a numpy
array, or a path/fsspec URL of a Parquet (file or directory) or CSV/TSV file.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["load_table", "schema_of", "to_arrow"]

_ACCEPTED = ("a pandas DataFrame or Series, a pyarrow Table or RecordBatch, an Arrow stream "
             "object, a dict of columns, a numpy array, or a path/URL of a .parquet or .csv file")
_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".tsv")
_COMPRESSED = (".gz", ".bz2", ".zst", ".xz")


def to_arrow(data: Any) -> pa.Table:
    """``data`` as a pyarrow Table (see the module docstring for what is accepted)."""
    return load_table(data)[0]


def load_table(data: Any) -> tuple[pa.Table, str]:
    """``data`` as a Table, and where it came from: its path or URL, or ``"dataframe"``."""
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



def schema_of(table: pa.Table) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema]

