"""Materialization, push and consistency: moving views' latest rows into the online store.

- :func:`materialize_view` writes the latest row per entity with event time in
  [start, end], in batches; each batch is one atomic online write, and a stored row is only
  replaced by one at least as new. A failure leaves each entity with its previous or its new
  row (never half a row), records nothing and does not move the watermark, so running it
  again finishes the job. The profile of the values written is recorded with the run.
- :func:`push` checks fresh rows against the view's schema, appends them to the view's
  offline log (so training sees them) and writes the latest per entity online.
- :func:`check_consistency` compares online rows with the offline latest rows.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.core.timeutil import utcnow
from modelplane.features.definitions import Bytes, Timestamp, array_item
from modelplane.features.lookup import _us_to_datetime, decode_payload, namespace
from modelplane.features.offline import CREATED, KEY, PAYLOAD, TS_US, arrow_type, q

if TYPE_CHECKING:
    import pyarrow as pa

    from modelplane.features.definitions import FeatureView
    from modelplane.features.offline import OfflineStore
    from modelplane.features.online import OnlineStore
    from modelplane.features.registry import FeatureRegistry

__all__ = ["ConsistencyReport", "MaterializeResult", "check_consistency", "materialize_view",
           "progress_bar", "push"]

Progress = Callable[[str, int, int], None]  # (view, rows just written, total rows)


@dataclass(frozen=True)
class MaterializeResult:
    view: str
    version: int
    start: datetime | None
    end: datetime
    rows: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def materialize_view(offline: OfflineStore, online: OnlineStore, registry: FeatureRegistry,
                     view: FeatureView, start: datetime | None, end: datetime, *,
                     batch_size: int = 10_000, progress: Progress | None = None
                     ) -> MaterializeResult:
    from modelplane.data import profile

    began = time.perf_counter()
    con = offline.connect()
    try:
        latest = offline.latest(con, view, start=start, end=end)
        total = int(con.execute(f"SELECT count(*) FROM {latest}").fetchall()[0][0])
        ns = namespace(view)
        if progress:
            progress(view.name, 0, total)
        for batch in offline.batches(con, f"SELECT {KEY}, {TS_US}, {PAYLOAD} FROM {latest}",
                                     batch_size):
            rows = list(zip(*(c.to_pylist() for c in batch.columns), strict=True))
            online.write(ns, rows)
            if progress:
                progress(view.name, len(rows), total)
        features = ", ".join(q(f.name) for f in view.schema)
        stats = profile(offline.fetch(con, f"SELECT {features} FROM {latest}")) if total else None
    finally:
        con.close()
    registry.record_materialization(view, kind="materialize", start=start, end=end,
                                    num_rows=total, profile=stats, watermark=end)
    return MaterializeResult(view.name, view.version or 0, start, end, total,
                             time.perf_counter() - began)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """A Rich progress bar on stderr, one task per view (None when disabled)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    tasks: dict[str, Any] = {}
    with Progress("[bold]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        def advance(view: str, rows: int, total: int) -> None:
            if view not in tasks:
                tasks[view] = bar.add_task(view, total=total)
            bar.advance(tasks[view], rows)

        yield advance


# -- push ---------------------------------------------------------------------------------

_COMPATIBLE = {
    "int32": ("integer",), "int64": ("integer",), "float32": ("integer", "floating"),
    "float64": ("integer", "floating"), "bool": ("boolean",), "string": ("string",),
    "bytes": ("binary",), "timestamp": ("timestamp", "date"),
}


def _kind(t: pa.DataType) -> str:
    import pyarrow as pa

    for kind, test in (("integer", pa.types.is_integer), ("floating", pa.types.is_floating),
                       ("boolean", pa.types.is_boolean), ("timestamp", pa.types.is_timestamp),
                       ("date", pa.types.is_date), ("null", pa.types.is_null)):
        if test(t):
            return kind
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "list"
    return str(t)


def _fits(dtype: str, t: pa.DataType) -> bool:
    """Whether an Arrow column of type ``t`` can be cast to ``dtype`` without guessing (a
    list to a list dtype whose items fit)."""
    kind, item = _kind(t), array_item(dtype)
    if kind == "null":
        return True
    if item is not None:
        return kind == "list" and _fits(item, t.value_type)  # type: ignore[attr-defined]
    return kind in _COMPATIBLE[dtype]


def typed_rows(view: FeatureView, data: Any) -> pa.Table:
    """``data`` as the view's typed columns plus ``__mp_created`` (the push time unless the
    view's created-timestamp column is given); a missing column or a wrong dtype is an error
    naming the column, before anything is written."""
    import pyarrow as pa

    from modelplane.data import to_arrow

    table = to_arrow(data)
    wanted = [(k, d) for k, d in view.key_dtypes.items()]
    wanted.append((view.timestamp_field, "timestamp"))
    wanted += [(f.name, f.dtype) for f in view.schema]
    columns: dict[str, Any] = {}
    for name, dtype in wanted:
        if name not in table.column_names:
            raise InvalidArgumentError(
                f"push to {view.name!r}: no column {name!r}; it needs "
                f"{', '.join(repr(n) for n, _ in wanted)}", details={"field": name})
        column = table.column(name)
        if not _fits(dtype, column.type):
            kind = _kind(column.type)
            raise InvalidArgumentError(
                f"push to {view.name!r}: column {name!r} is "
                f"{kind if kind in ('string', 'binary') else column.type}, expected {dtype}",
                details={"field": name, "dtype": dtype, "got": str(column.type)})
        try:
            columns[name] = column.cast(arrow_type(dtype), safe=dtype != "timestamp")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidArgumentError(
                f"push to {view.name!r}: column {name!r} does not fit {dtype}: {exc}",
                details={"field": name, "dtype": dtype}) from exc
    created = view.created_timestamp_field
    if created and created in table.column_names:
        columns[CREATED] = table.column(created).cast(arrow_type("timestamp"), safe=False)
    else:
        columns[CREATED] = pa.array([utcnow()] * table.num_rows, arrow_type("timestamp"))
    return pa.table(columns)


def json_columns(view: FeatureView, columns: Mapping[str, Sequence[Any]]) -> pa.Table:
    """Rows sent as JSON columns (the REST push body) as an Arrow table: a ``bytes``
    feature's values are base64 text (standard alphabet, padded), times ISO-8601 text;
    lists are JSON arrays. A value that cannot be read is an error naming its column."""
    import pyarrow as pa

    dtypes = {f.name: f.dtype for f in view.schema}
    for name in (view.timestamp_field, view.created_timestamp_field):
        if name:
            dtypes[name] = Timestamp
    arrays = {}
    for name, values in columns.items():
        dtype = dtypes.get(name)
        if dtype == Bytes:
            values = [_from_base64(name, v) for v in values]
        try:
            array = pa.array(values)
            if dtype == Timestamp and pa.types.is_string(array.type):
                array = array.cast(pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise InvalidArgumentError(f"push to {view.name!r}: column {name!r}: {exc}",
                                       details={"field": name}) from exc
        arrays[name] = array
    if len({len(a) for a in arrays.values()}) > 1:
        raise InvalidArgumentError(f"push to {view.name!r}: every column needs the same "
                                   "number of values", details={"field": "columns"})
    return pa.table(arrays)


def _from_base64(column: str, value: Any) -> bytes | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise InvalidArgumentError(f"column {column!r} holds bytes: expected base64 text, got "
                                   f"{str(value)[:40]!r}", details={"field": column}) from None


def push(offline: OfflineStore, online: OnlineStore, registry: FeatureRegistry,
         view: FeatureView, data: Any) -> int:
    """Append ``data`` to the view's offline log and write its latest rows online."""
    table = typed_rows(view, data)
    if table.num_rows == 0:
        return 0
    con = offline.connect()
    try:
        latest = offline.latest(con, view, table=table)
        rows = offline.fetch(con, f"SELECT {KEY}, {TS_US}, {PAYLOAD} FROM {latest}")
    finally:
        con.close()
    offline.append_log(view, table)
    online.write(namespace(view), list(zip(*(c.to_pylist() for c in rows.columns), strict=True)))
    registry.record_materialization(view, kind="push", start=None, end=None,
                                    num_rows=table.num_rows, profile=None)
    return table.num_rows


# -- consistency --------------------------------------------------------------------------


@dataclass
class ConsistencyReport:
    """Online rows against the offline latest rows of a sample of entities.

    ``missing``: no online row; ``stale``: the online row is older than the offline latest
    (not materialized yet); ``mismatched``: same event time, different values; ``newer``:
    the online row is newer than anything offline.
    """

    view: str
    version: int
    sampled: int
    consistent: int
    missing: int = 0
    stale: int = 0
    mismatched: int = 0
    newer: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.consistent == self.sampled

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _same(a: list[Any], b: list[Any]) -> bool:
    """Equal values, NaN equal to NaN, lists item by item."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, list) and isinstance(y, list):
            if not _same(x, y):
                return False
        elif x != y and not (isinstance(x, float) and isinstance(y, float)
                             and math.isnan(x) and math.isnan(y)):
            return False
    return True


def check_consistency(offline: OfflineStore, online: OnlineStore, view: FeatureView, *,
                      sample: int = 1000, examples: int = 10, seed: int = 0) -> ConsistencyReport:
    if sample < 1:
        raise InvalidArgumentError("sample must be at least 1", details={"field": "sample"})
    con = offline.connect()
    try:
        latest = offline.latest(con, view)
        con.execute(f"SELECT setseed({(seed % 1000) / 1000})").fetchall()
        rows = offline.fetch(con, f"SELECT {KEY}, {TS_US}, {PAYLOAD} FROM {latest} "
                                  f"ORDER BY random() LIMIT {int(sample)}")
    finally:
        con.close()
    keys, stamps, payloads = (c.to_pylist() for c in rows.columns)
    found = online.read(namespace(view), keys) if keys else []
    report = ConsistencyReport(view.name, view.version or 0, len(keys), 0)
    for key, ts, payload, hit in zip(keys, stamps, payloads, found, strict=True):
        kind = _compare(ts, decode_payload(payload), hit)
        if kind is None:
            report.consistent += 1
            continue
        setattr(report, kind, getattr(report, kind) + 1)
        if len(report.examples) < examples:
            report.examples.append({
                "key": key, "kind": kind, "offline_event_timestamp": _us_to_datetime(ts),
                "online_event_timestamp": _us_to_datetime(hit[0]) if hit else None,
                "offline": dict(zip(view.features, decode_payload(payload), strict=True)),
                "online": dict(zip(view.features, decode_payload(hit[1]), strict=True))
                if hit else None})
    return report


def _compare(ts: int, offline: list[Any], hit: tuple[int, Any] | None) -> str | None:
    if hit is None:
        return "missing"
    if hit[0] < ts:
        return "stale"
    if hit[0] > ts:
        return "newer"
    return None if _same(offline, decode_payload(hit[1])) else "mismatched"
