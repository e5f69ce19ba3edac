"""Batch inference over Parquet (CSV and JSON lines read too): read in chunks, predict,
write each chunk as it comes.

Memory holds one chunk at a time (``chunk_rows`` input rows and their predictions): the
input is streamed with ``pyarrow.parquet.ParquetFile.iter_batches`` and the output is
written one row group per chunk with a ``ParquetWriter``, into a temporary file renamed
into place at the end, so a failed job never leaves a half-written output behind.

The model is loaded as the server loads it (``serving.loading.load_version``: verified
against its digests, warmed up, the same fast paths). Output columns: the input columns
kept (all by default; ``keep=[...]`` names some, ``keep=[]`` none), then ``prediction``,
then for models with probabilities one ``probability_<class>`` column per class (a list
column ``probabilities`` when the classes are unknown). A tensor model (one ``input``
of ``[-1, n]``) takes the ``n`` input columns that are not in ``keep``, in file order.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    import pyarrow as pa

    from modelplane.flavors import LoadedModel
    from modelplane.registry.models import ModelSource
    from modelplane.serving.predictors import Predictor

__all__ = ["BatchResult", "load_predictor", "predict_file", "predict_with"]

DEFAULT_CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class BatchResult:
    """What a batch job did: rows predicted, chunks, wall seconds, where it wrote."""

    rows: int
    chunks: int
    seconds: float
    output: str
    model_uri: str
    columns: list[str]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _model_input(batch: pa.RecordBatch, model: LoadedModel, keep: list[str]) -> Any:
    columns = {name: batch.column(i).to_numpy(zero_copy_only=False)
               for i, name in enumerate(batch.schema.names)}
    signature = model.signature
    if signature is not None and signature.is_tensor and len(signature.inputs) == 1:
        spec = signature.inputs[0]
        if spec.name not in columns:
            width = spec.shape[1] if spec.shape and len(spec.shape) == 2 else -1
            features = [n for n in batch.schema.names if n not in keep]
            if len(features) != width:
                raise InvalidArgumentError(
                    f"the model takes one {spec.name!r} tensor of {width} features; the input "
                    f"has {len(features)} columns besides the kept ones ({', '.join(keep)})",
                    details={"field": spec.name, "expected": width, "got": len(features)})
            return np.column_stack([columns[n] for n in features])
    return columns


def _output(batch: pa.RecordBatch, keep: list[str], predictions: Any, proba: Any,
            classes: list[Any] | None) -> pa.Table:
    import pyarrow as pa

    out: dict[str, Any] = {name: batch.column(batch.schema.get_field_index(name))
                           for name in keep}
    out["prediction"] = pa.array(np.asarray(predictions).tolist()
                                 if np.asarray(predictions).dtype.kind == "O" else predictions)
    if proba is not None:
        proba = np.asarray(proba)
        if classes and proba.ndim == 2 and proba.shape[1] == len(classes):
            for j, cls in enumerate(classes):
                out[f"probability_{cls}"] = proba[:, j]
        else:
            out["probabilities"] = pa.array(list(proba))
    return pa.table(out)


def _keep_columns(names: list[str], keep: list[str] | None) -> list[str]:
    if keep is None:
        return names
    missing = [k for k in keep if k not in names]
    if missing:
        raise InvalidArgumentError(f"keep: the input has no column {missing[0]!r}",
                                   details={"field": "keep", "got": missing[0]})
    return list(keep)


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Any]:
    if not enabled:
        yield lambda rows: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("rows"), TimeElapsedColumn(), TimeRemainingColumn())
    from rich.console import Console

    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda rows: bar.advance(task, rows)


def load_predictor(model: str, models: ModelSource, fmt: str | None = None
                   ) -> tuple[Predictor, str]:
    """The model ``model`` names, loaded for batch work, and its resolved URI."""
    return _load(model, models, fmt)


def _load(model: str, models: ModelSource, fmt: str | None) -> tuple[Predictor, str]:
    from modelplane.serving.loading import load_version

    version = models.resolve(model)
    return load_version(models, version, fmt=fmt).predictor, version.uri


def predict_file(model: str, input: str | os.PathLike[str], output: str | os.PathLike[str],
                 *, chunk_rows: int = DEFAULT_CHUNK_ROWS, keep: list[str] | None = None,
                 progress: bool = False, models: ModelSource,
                 format: str | None = None) -> BatchResult:
    """Predict every row of ``input`` (Parquet, streamed ``chunk_rows`` rows at a time; CSV
    or JSON lines, see :mod:`~modelplane.serving.batch_input`) with ``model`` (a model URI,
    fetched through ``models``)
    and write ``output`` (Parquet)."""
    from modelplane.serving.batch_input import open_input

    check_output(output, chunk_rows)
    reader = open_input(input, chunk_rows)  # a bad input fails before the model loads
    started = time.perf_counter()
    predictor, uri = _load(model, models, format)
    return predict_with(predictor, uri, input, output, chunk_rows=chunk_rows, keep=keep,
                        progress=progress, started=started, reader=reader)


def check_output(output: str | os.PathLike[str], chunk_rows: int) -> None:
    if chunk_rows < 1:
        raise InvalidArgumentError("chunk_rows must be >= 1", details={"field": "chunk_rows"})
    if Path(output).suffix.lower() in (".csv", ".json", ".jsonl", ".ndjson"):
        raise InvalidArgumentError(f"--output: predictions are written as Parquet; name the "
                                   f"file .parquet, not {Path(output).name!r}",
                                   details={"field": "output"})


def predict_with(predictor: Predictor, uri: str, input: str | os.PathLike[str],
                 output: str | os.PathLike[str], *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 keep: list[str] | None = None, progress: bool = False,
                 started: float | None = None, reader: Any = None) -> BatchResult:
    """:func:`predict_file` with a model already loaded (one load, many files: the Ray
    batch workers)."""
    import pyarrow.parquet as pq

    from modelplane.serving.batch_input import open_input

    check_output(output, chunk_rows)
    started = time.perf_counter() if started is None else started
    reader = reader or open_input(input, chunk_rows)
    classes = predictor.model.meta.classes
    kept = _keep_columns(reader.schema.names, keep)
    clash = {"prediction", "probabilities"} & set(kept)
    if clash:
        raise InvalidArgumentError(f"keep: input column {sorted(clash)[0]!r} would clash with "
                                   "an output column; leave it out of keep",
                                   details={"field": "keep", "got": sorted(clash)[0]})
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    writer, rows, chunks, columns = None, 0, 0, list(kept)
    try:
        with _progress(progress, reader.num_rows, f"predicting {uri}") as advance:
            for batch in reader.batches:
                prepared = predictor.model.prepare(_model_input(batch, predictor.model, kept))
                predictions, proba = predictor.run(prepared)
                table = _output(batch, kept, predictions, proba, classes)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                    columns = table.schema.names
                writer.write_table(table)
                rows += batch.num_rows
                chunks += 1
                advance(batch.num_rows)
        if writer is None:  # an empty input: an empty output with the kept columns
            import pyarrow as pa

            empty = reader.schema.empty_table().select(kept)
            pq.write_table(empty.append_column("prediction", pa.array([], pa.float64())), tmp)
            columns = [*kept, "prediction"]
        else:
            writer.close()
            writer = None
        os.replace(tmp, target)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return BatchResult(rows=rows, chunks=chunks, seconds=time.perf_counter() - started,
                       output=str(target), model_uri=uri, columns=columns)
