"""Where a feature view's rows come from: Parquet files (any fsspec URL), an in-memory
DataFrame or Arrow table, or a DuckDB query. Each source has a JSON ``spec()``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from modelplane.core.errors import InvalidArgumentError

__all__ = ["DataFrameSource", "FileSource", "Source", "SqlSource", "as_source",
           "source_from_spec"]


class FileSource:
    """Parquet file or folder (read recursively), local or any fsspec URL."""

    type = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = os.fspath(path).removeprefix("file://")
        self.path = path if "://" in path else os.path.abspath(path)

    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "path": self.path}

    def __repr__(self) -> str:
        return f"FileSource({self.path!r})"


class DataFrameSource:
    """An in-memory pandas DataFrame or Arrow table. ``apply`` stores it as a content-addressed
    Parquet blob in the artifact store, so every process reads the same rows."""

    type = "dataframe"

    def __init__(self, data: Any = None, *, digest: str | None = None) -> None:
        if data is None and digest is None:
            raise InvalidArgumentError("DataFrameSource needs data", details={"field": "data"})
        self.data, self._digest, self._parquet = data, digest, b""

    def parquet_bytes(self) -> bytes:
        if not self._parquet:
            import io

            import pyarrow.parquet as pq

            from modelplane.data import to_arrow

            buffer = io.BytesIO()
            pq.write_table(to_arrow(self.data), buffer)
            self._parquet = buffer.getvalue()
        return self._parquet

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = hashlib.sha256(self.parquet_bytes()).hexdigest()
        return self._digest

    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "digest": self.digest}

    def __repr__(self) -> str:
        return f"DataFrameSource(digest={self.digest[:12]!r})"


class SqlSource:
    """A DuckDB query whose result is the source, e.g.
    ``SqlSource("SELECT * FROM read_parquet('s3://bucket/trips/*.parquet') WHERE ok")``."""

    type = "sql"

    def __init__(self, query: str) -> None:
        if not isinstance(query, str) or not query.strip():
            raise InvalidArgumentError("SqlSource needs a query", details={"field": "query"})
        self.query = query.strip().rstrip(";")

    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "query": self.query}

    def __repr__(self) -> str:
        return f"SqlSource({self.query[:60]!r})"


Source = FileSource | DataFrameSource | SqlSource


def as_source(source: Any) -> Source:
    if isinstance(source, FileSource | DataFrameSource | SqlSource):
        return source
    if isinstance(source, str | os.PathLike):
        return FileSource(source)
    return DataFrameSource(source)


def source_from_spec(spec: Mapping[str, Any]) -> Source:
    if spec["type"] == "file":
        return FileSource(spec["path"])
    if spec["type"] == "sql":
        return SqlSource(spec["query"])
    return DataFrameSource(digest=spec["digest"])
