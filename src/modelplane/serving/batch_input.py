"""The input files batch inference reads: Parquet (streamed in chunks), CSV and JSON lines
(read whole, then chunked), chosen by extension, or by content for other names.

Anything else, or a file that does not parse as its form, is an ``InvalidArgumentError``
naming the file and the accepted forms, never a raw Arrow error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelplane.core.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ACCEPTED", "InputRows", "open_input"]

ACCEPTED = ("Parquet (.parquet, .pq), CSV with a header row (.csv), or JSON lines, one object "
            "per line (.jsonl, .ndjson, .json)")
_FORMS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "json",
          ".ndjson": "json", ".json": "json"}


@dataclass
class InputRows:
    """The input's columns, its row count, and its rows as record batches."""

    schema: pa.Schema
    num_rows: int
    batches: Iterator[pa.RecordBatch]


def _sniff(path: Path) -> str | None:
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip()
    if text.startswith(b"{"):
        return "json"
    return "csv" if b"," in head.split(b"\n", 1)[0] else None


def open_input(input: str | os.PathLike[str], chunk_rows: int) -> InputRows:
    import pyarrow as pa

    path = Path(input)
    if not path.is_file():
        raise NotFoundError(f"--input: no file at {str(input)!r}; expected {ACCEPTED}",
                            details={"field": "input"})
    form = _FORMS.get(path.suffix.lower()) or _sniff(path)
    if form is None:
        raise InvalidArgumentError(f"--input: cannot tell what {path.name!r} holds; expected "
                                   f"{ACCEPTED}", details={"field": "input"})
    try:
        if form == "parquet":
            import pyarrow.parquet as pq

            reader = pq.ParquetFile(path)
            return InputRows(reader.schema_arrow, reader.metadata.num_rows,
                             reader.iter_batches(batch_size=chunk_rows))
        if form == "csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(path)
        else:
            import pyarrow.json as pajson

            table = pajson.read_json(path)
    except (pa.ArrowException, OSError) as exc:
        why = " ".join(str(exc).split())[:300]
        raise InvalidArgumentError(f"--input: {path.name!r} is not valid {form.upper()} "
                                   f"({why}); expected {ACCEPTED}",
                                   details={"field": "input"}) from None
    return InputRows(table.schema, table.num_rows,
                     iter(table.to_batches(max_chunksize=chunk_rows)))
