"""Online reads: entity rows -> keys -> one store read per view -> values, statuses, times.

A feature's status is ``present`` (a row within the TTL), ``missing`` (no row for the key)
or ``expired`` (the row's event time is before ``now - ttl``; a row exactly TTL old is
still present: the same inclusive rule as training, so a value too old to be used offline
is not served online either; its value is null and its event time is still reported).
On-demand features run the view's function on the values read and the request fields.

This is serving's hot path: everything that depends only on the features asked for is
worked out once per request shape (:func:`compile_plan`, cached by the service), so a read
is the key encoding, one store round trip per view and the decoding of the rows found.
Stored values are JSON (timestamps as epoch microseconds, bytes as base64); they are
decoded with orjson, and with the standard library only for the rows holding NaN or
infinities, which orjson refuses.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from modelplane.core.errors import InvalidArgumentError
from modelplane.features.definitions import Bytes, FeatureView, Int32, Int64, Timestamp
from modelplane.features.offline import KEY_SEP

if TYPE_CHECKING:
    from modelplane.features.online import OnlineStore
    from modelplane.features.resolve import FeaturePlan, OdfvRun

__all__ = ["CompiledPlan", "OnlineFeatures", "compile_plan", "decode_payload", "entity_columns",
           "json_value", "namespace"]

PRESENT, MISSING, EXPIRED = "present", "missing", "expired"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def namespace(view: FeatureView) -> str:
    """Online rows are kept per schema: a new view version starts empty, never misread."""
    return f"{view.name}/{view.schema_hash[:16]}"


def _us_to_datetime(value: int | None) -> datetime | None:
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=value)


def _b64_to_bytes(value: str | None) -> bytes | None:
    return None if value is None else base64.b64decode(value)


#: how a stored JSON value becomes the feature's Python value, by dtype (others: as is)
_CONVERTERS: dict[str, Callable[[Any], Any]] = {Timestamp: _us_to_datetime,
                                                 Bytes: _b64_to_bytes}


def decode_payload(payload: str | bytes) -> list[Any]:
    """A stored row's JSON array of values (NaN and infinities included)."""
    try:
        return orjson.loads(payload)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:
        return json.loads(payload)  # type: ignore[no-any-return]


def json_value(value: Any) -> Any:
    """A feature value for a JSON response: non-finite floats as null, times ISO-8601,
    bytes base64 (standard alphabet, padded), lists item by item."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _int_key(column: str) -> Callable[[Any], str]:
    def encode(value: Any) -> str:
        if type(value) is int:
            return str(value)
        if isinstance(value, bool) or value is None:
            raise InvalidArgumentError(f"entity column {column!r}: expected an integer, got "
                                       f"{value!r}", details={"field": column})
        try:
            number = int(value)
            if number != value and str(number) != str(value).strip():
                raise ValueError
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"entity column {column!r}: expected an integer, got "
                                       f"{value!r}", details={"field": column}) from None
        return str(number)

    return encode


def _str_key(column: str) -> Callable[[Any], str]:
    def encode(value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidArgumentError(f"entity column {column!r}: expected a string, got "
                                       f"{value!r}", details={"field": column})
        return value

    return encode


@dataclass
class _CompiledRead:
    view: FeatureView
    namespace: str
    key_columns: list[str]
    encoders: list[Callable[[Any], str]]
    indices: list[int]
    outputs: list[str | None]
    names: list[str]
    converters: list[Callable[[Any], Any] | None]
    ttl_us: int | None


@dataclass
class CompiledPlan:
    """A :class:`FeaturePlan` made ready for fast repeated reads; ``ordered`` when the
    reads' outputs already come in the order asked (no on-demand views), so the result
    needs no reordering."""

    plan: FeaturePlan
    reads: list[_CompiledRead]
    built: float
    ordered: bool = False


def compile_plan(plan: FeaturePlan) -> CompiledPlan:
    reads = []
    for read in plan.reads:
        view = read.view
        dtypes = view.key_dtypes
        encoders = [_int_key(k) if dtypes[k] in (Int32, Int64) else _str_key(k)
                    for k in view.join_keys]
        indices = [view.features.index(f) for f in read.features]
        reads.append(_CompiledRead(
            view, namespace(view), list(view.join_keys), encoders, indices, read.outputs,
            list(read.features), [_CONVERTERS.get(view.schema[i].dtype) for i in indices],
            int(view.ttl_seconds * 1_000_000) if view.ttl_seconds else None))
    outputs = [o for r in reads for o in r.outputs]
    ordered = not plan.odfvs and outputs == plan.columns
    return CompiledPlan(plan, reads, time.monotonic(), ordered)


def entity_columns(entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
                   ) -> tuple[dict[str, list[Any]], int]:
    """Entity rows as columns: a list of dicts (one per entity) or a dict of lists."""
    columns: dict[str, list[Any]]
    if isinstance(entity_rows, list | tuple) and len(entity_rows) == 1 \
            and isinstance(entity_rows[0], Mapping):  # the common serving case
        return {k: [v] for k, v in entity_rows[0].items()}, 1
    if isinstance(entity_rows, Mapping):
        columns = {str(k): list(v) if not isinstance(v, list) else v
                   for k, v in entity_rows.items()}
        sizes = {len(v) for v in columns.values()}
        if len(sizes) > 1:
            raise InvalidArgumentError("entity_rows: every column needs the same number of "
                                       "values", details={"field": "entity_rows"})
        return columns, sizes.pop() if sizes else 0
    rows = list(entity_rows)
    names = list(dict.fromkeys(k for r in rows for k in r))
    missing = object()
    columns = {}
    for name in names:
        values = [r.get(name, missing) for r in rows]
        if any(v is missing for v in values):
            raise InvalidArgumentError(f"entity_rows: some rows lack {name!r}",
                                       details={"field": name})
        columns[name] = values
    return columns, len(rows)


@dataclass
class OnlineFeatures:
    """Values by feature name (entity columns first), with statuses and event times."""

    entities: dict[str, list[Any]]
    values: dict[str, list[Any]]
    statuses: dict[str, list[str]]
    event_timestamps: dict[str, list[datetime | None]]

    def to_dict(self) -> dict[str, list[Any]]:
        return {**self.entities, **self.values}

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.to_dict())

    def to_json(self) -> dict[str, Any]:
        """The HTTP response body (see :func:`json_value`: bytes become base64 text)."""
        return {"entities": self.entities, "features": {
            name: {"values": [json_value(v) for v in self.values[name]],
                   "statuses": self.statuses[name],
                   "event_timestamps": [t.isoformat() if t else None
                                        for t in self.event_timestamps[name]]}
            for name in self.values}}


def read_online(store: OnlineStore, compiled: CompiledPlan, columns: Mapping[str, Sequence[Any]],
                n: int, *, now: float | None = None) -> OnlineFeatures:
    now_us = int((time.time() if now is None else now) * 1_000_000)
    values: dict[str, list[Any]] = {}
    statuses: dict[str, list[str]] = {}
    times: dict[str, list[datetime | None]] = {}
    odfvs = compiled.plan.odfvs
    inputs: dict[tuple[str, str], tuple[list[Any], list[str]]] = {}
    for read in compiled.reads:
        keys = _keys(read, columns, n)
        found = store.read(read.namespace, keys) if n else []
        cols: list[list[Any]] = [[None] * n for _ in read.indices]
        status = [MISSING] * n
        stamps: list[datetime | None] = [None] * n
        oldest = None if read.ttl_us is None else now_us - read.ttl_us
        for row, hit in enumerate(found):
            if hit is None:
                continue
            ts, payload = hit
            stamps[row] = _EPOCH + timedelta(microseconds=ts)
            if oldest is not None and ts < oldest:
                status[row] = EXPIRED
                continue
            status[row] = PRESENT
            decoded = decode_payload(payload)
            for col, index in zip(cols, read.indices, strict=True):
                col[row] = decoded[index]
        for j, output in enumerate(read.outputs):
            convert = read.converters[j]
            if convert is not None:
                cols[j] = [convert(v) for v in cols[j]]
            if odfvs:
                inputs[(read.view.name, read.names[j])] = (cols[j], status)
            if output is not None:
                values[output], statuses[output], times[output] = cols[j], status, stamps
    entities = {k: list(v) for k, v in columns.items()}
    if compiled.ordered:
        return OnlineFeatures(entities, values, statuses, times)
    for run in odfvs:
        _run_odfv(run, inputs, columns, n, values, statuses, times)
    ordered = {name: values[name] for name in compiled.plan.columns}
    return OnlineFeatures(entities, ordered, {k: statuses[k] for k in ordered},
                          {k: times[k] for k in ordered})


def _keys(read: _CompiledRead, columns: Mapping[str, Sequence[Any]], n: int) -> list[str]:
    for column in read.key_columns:
        if column not in columns:
            raise InvalidArgumentError(
                f"entity rows lack the join key {column!r} of feature view {read.view.name!r}; "
                f"they have {', '.join(repr(c) for c in columns) or 'no columns'}",
                details={"field": column, "view": read.view.name})
    if len(read.key_columns) == 1:
        encode = read.encoders[0]
        return [encode(v) for v in columns[read.key_columns[0]]]
    parts = [[enc(v) for v in columns[c]] for c, enc in zip(read.key_columns, read.encoders,
                                                            strict=True)]
    return [KEY_SEP.join(p[i] for p in parts) for i in range(n)]


def _run_odfv(run: OdfvRun, inputs: dict[tuple[str, str], tuple[list[Any], list[str]]],
              columns: Mapping[str, Sequence[Any]], n: int, values: dict[str, list[Any]],
              statuses: dict[str, list[str]], times: dict[str, list[datetime | None]]) -> None:
    data: dict[str, list[Any]] = {}
    status = [PRESENT] * n
    for view_name, feature in run.inputs:
        column, input_status = inputs[(view_name, feature)]
        data[feature] = column
        status = [s if s != PRESENT else i for s, i in zip(status, input_status, strict=True)]
    for f in run.view.request_fields:
        if f.name not in columns:
            raise InvalidArgumentError(
                f"on-demand view {run.view.name!r} needs the request field {f.name!r}",
                details={"field": f.name, "view": run.view.name})
        data[f.name] = list(columns[f.name])
    out = apply_transform(run.view, data, n)
    for feature, output in zip(run.features, run.outputs, strict=True):
        values[output], statuses[output], times[output] = out[feature], status, [None] * n


def apply_transform(view: Any, data: Any, n: int) -> dict[str, list[Any]]:
    """Run an on-demand view's function on columns (a dict of lists, or a DataFrame in
    pandas mode); check it returned every declared feature with one value per row."""
    if view.mode == "pandas":
        import pandas as pd

        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        result = view.transform(frame)
        out = {name: result[name].tolist() for name in view.features if name in result}
    else:
        result = view.transform(data)
        out = {name: list(result[name]) for name in view.features if name in result}
    for name in view.features:
        if name not in out or len(out[name]) != n:
            raise InvalidArgumentError(
                f"on-demand view {view.name!r}: its transform did not return {n} values for "
                f"{name!r}", details={"field": name, "view": view.name})
    return out
