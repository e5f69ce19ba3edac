"""Online reads: entity rows -> keys -> one store read per view -> values, statuses, times.

A feature's status is ``present`` (a row within the TTL), ``missing`` (no row for the key)
or ``expired`` (the row's event time is at or before ``now - ttl``: the same rule as
training, so a value too old to be used offline is not served online either; its value is
null and its event time is still reported). On-demand features run the view's function on
the values read and the request fields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.features.definitions import FeatureView, Int32, Int64, Timestamp
from modelplane.features.offline import KEY_SEP

if TYPE_CHECKING:
    from modelplane.features.online import OnlineStore
    from modelplane.features.resolve import FeaturePlan, OdfvRun

__all__ = ["CompiledPlan", "OnlineFeatures", "compile_plan", "entity_columns", "namespace"]

PRESENT, MISSING, EXPIRED = "present", "missing", "expired"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def namespace(view: FeatureView) -> str:
    """Online rows are kept per schema: a new view version starts empty, never misread."""
    return f"{view.name}/{view.schema_hash[:16]}"


def _us_to_datetime(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


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
    timestamps: list[bool]
    ttl_us: int | None


@dataclass
class CompiledPlan:
    """A :class:`FeaturePlan` made ready for fast repeated reads."""

    plan: FeaturePlan
    reads: list[_CompiledRead]
    built: float


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
            list(read.features), [view.schema[i].dtype == Timestamp for i in indices],
            int(view.ttl_seconds * 1_000_000) if view.ttl_seconds else None))
    return CompiledPlan(plan, reads, time.monotonic())


def entity_columns(entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
                   ) -> tuple[dict[str, list[Any]], int]:
    """Entity rows as columns: a list of dicts (one per entity) or a dict of lists."""
    columns: dict[str, list[Any]]
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
        """The HTTP response body: non-finite floats become null, times ISO-8601."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
                return None
            return v.isoformat() if isinstance(v, datetime) else v

        return {"entities": self.entities, "features": {
            name: {"values": [clean(v) for v in self.values[name]],
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
    inputs: dict[tuple[str, str], tuple[list[Any], list[str]]] = {}
    for read in compiled.reads:
        keys = _keys(read, columns, n)
        found = store.read(read.namespace, keys) if n else []
        width = len(read.indices)
        cols: list[list[Any]] = [[None] * n for _ in range(width)]
        status = [MISSING] * n
        stamps: list[datetime | None] = [None] * n
        for row, hit in enumerate(found):
            if hit is None:
                continue
            ts, payload = hit
            stamps[row] = _us_to_datetime(ts)
            if read.ttl_us is not None and ts <= now_us - read.ttl_us:
                status[row] = EXPIRED
                continue
            status[row] = PRESENT
            decoded = json.loads(payload)
            for j, index in enumerate(read.indices):
                cols[j][row] = decoded[index]
        for j, output in enumerate(read.outputs):
            if read.timestamps[j]:
                cols[j] = [_us_to_datetime(v) for v in cols[j]]
            inputs[(read.view.name, read.names[j])] = (cols[j], status)
            if output is not None:
                values[output], statuses[output], times[output] = cols[j], status, stamps
    for run in compiled.plan.odfvs:
        _run_odfv(run, inputs, columns, n, values, statuses, times)
    ordered = {name: values[name] for name in compiled.plan.columns}
    return OnlineFeatures({k: list(v) for k, v in columns.items()}, ordered,
                          {k: statuses[k] for k in ordered}, {k: times[k] for k in ordered})


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
