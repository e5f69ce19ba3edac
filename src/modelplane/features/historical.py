"""Training sets: the entity frame checked and normalised, the point-in-time join, on-demand
features, and the result (pandas, Arrow or Parquet) with the frame's rows in their order."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.features.lookup import apply_transform
from modelplane.features.offline import ROW, TS, arrow_type

if TYPE_CHECKING:
    import pyarrow as pa

    from modelplane.features.offline import OfflineStore
    from modelplane.features.resolve import FeaturePlan

__all__ = ["HistoricalFeatures", "get_historical_features"]


class HistoricalFeatures:
    """A training set: the entity frame's columns then one column per feature asked for."""

    def __init__(self, entity_input: Any, entity_table: pa.Table, features: pa.Table) -> None:
        self._input, self._entities, self.features = entity_input, entity_table, features

    @property
    def columns(self) -> list[str]:
        return self._entities.column_names + self.features.column_names

    def __len__(self) -> int:
        return self.features.num_rows

    def to_arrow(self) -> pa.Table:
        import pyarrow as pa

        table = self._entities
        for name, column in zip(self.features.column_names, self.features.columns, strict=True):
            table = table.append_column(pa.field(name, column.type), column)
        return table

    def to_pandas(self) -> Any:
        """A pandas frame: the entity frame as given (index and dtypes kept) plus features."""
        pd = sys.modules.get("pandas")
        if pd is not None and isinstance(self._input, pd.DataFrame):
            features = self.features.to_pandas()
            features.index = self._input.index
            return pd.concat([self._input, features], axis=1)
        return self.to_arrow().to_pandas()

    def to_parquet(self, path: str | os.PathLike[str]) -> str:
        import fsspec
        import pyarrow.parquet as pq

        path = os.fspath(path)
        with fsspec.open(path, "wb") as fh:
            pq.write_table(self.to_arrow(), fh)
        return path

    def __repr__(self) -> str:
        return f"<HistoricalFeatures {len(self)} rows x {len(self.columns)} columns>"


def _timestamp_column(table: pa.Table, name: str | None) -> str:
    import pyarrow as pa

    if name is not None:
        if name not in table.column_names:
            raise InvalidArgumentError(
                f"entity frame has no timestamp column {name!r}; it has "
                f"{', '.join(repr(c) for c in table.column_names)}", details={"field": name})
        return name
    if "event_timestamp" in table.column_names:
        return "event_timestamp"
    found = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
    if len(found) != 1:
        raise InvalidArgumentError(
            "entity frame has no 'event_timestamp' column"
            + (f" and several timestamp columns ({', '.join(found)})" if found else "")
            + "; name it with timestamp_column=", details={"field": "event_timestamp"})
    return found[0]


def _normalise(table: pa.Table, plan: FeaturePlan, ts_name: str) -> pa.Table:
    """Join keys cast to their declared dtypes, the row time as UTC microseconds, row ids."""
    import numpy as np
    import pyarrow as pa

    columns: dict[str, Any] = {}
    for read in plan.reads:
        for key, dtype in read.view.key_dtypes.items():
            if key in columns:
                continue
            if key not in table.column_names:
                raise InvalidArgumentError(
                    f"entity frame lacks the join key {key!r} of feature view "
                    f"{read.view.name!r}; it has {', '.join(repr(c) for c in table.column_names)}",
                    details={"field": key, "view": read.view.name})
            try:
                columns[key] = table.column(key).cast(arrow_type(dtype))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InvalidArgumentError(
                    f"entity frame column {key!r} is {table.column(key).type}, not {dtype}: "
                    f"{exc}", details={"field": key}) from exc
    ts = table.column(ts_name)
    if pa.types.is_date(ts.type):
        ts = ts.cast(pa.timestamp("us"))
    if not pa.types.is_timestamp(ts.type):
        raise InvalidArgumentError(f"entity frame column {ts_name!r} is {ts.type}; expected "
                                   "timestamps", details={"field": ts_name})
    columns[TS] = ts.cast(pa.timestamp("us", tz="UTC"), safe=False)
    columns[ROW] = pa.array(np.arange(table.num_rows, dtype=np.int64))
    return pa.table(columns)


def _bounds(ts: pa.ChunkedArray) -> tuple[datetime, datetime] | None:
    import pyarrow.compute as pc

    span = pc.min_max(ts.cast("int64")).as_py()
    if span["min"] is None:
        return None
    from modelplane.features.lookup import _us_to_datetime

    return _us_to_datetime(span["min"]), _us_to_datetime(span["max"])  # type: ignore[return-value]


def get_historical_features(offline: OfflineStore, entity_df: Any, plan: FeaturePlan, *,
                            timestamp_column: str | None = None) -> HistoricalFeatures:
    import pyarrow as pa

    from modelplane.data import to_arrow

    table = to_arrow(entity_df)
    ts_name = _timestamp_column(table, timestamp_column)
    entities = _normalise(table, plan, ts_name)
    joined = offline.historical(entities, plan.reads, _bounds(entities.column(TS)))
    named: dict[str, Any] = {}
    inputs: dict[tuple[str, str], Any] = {}
    for i, read in enumerate(plan.reads):
        for feature, output in zip(read.features, read.outputs, strict=True):
            column = joined.column(f"v{i}.{feature}")
            inputs[(read.view.name, feature)] = column
            if output is not None:
                named[output] = column
    for run in plan.odfvs:
        named.update(_odfv_offline(run, inputs, table))
    features = pa.table({name: named[name] for name in plan.columns})
    if features.num_rows != table.num_rows:  # the join must never drop or add a row
        raise AssertionError("point-in-time join changed the number of rows")
    return HistoricalFeatures(entity_df, table, features)


def _odfv_offline(run: Any, inputs: dict[tuple[str, str], Any], table: pa.Table
                  ) -> dict[str, Any]:
    import pyarrow as pa

    columns: dict[str, Any] = {}
    for view_name, feature in run.inputs:
        columns[feature] = inputs[(view_name, feature)]
    for f in run.view.request_fields:
        if f.name not in table.column_names:
            raise InvalidArgumentError(
                f"on-demand view {run.view.name!r} needs the request field {f.name!r} as an "
                "entity frame column", details={"field": f.name, "view": run.view.name})
        columns[f.name] = table.column(f.name)
    data: Any = pa.table(columns)
    data = data.to_pandas() if run.view.mode == "pandas" else data.to_pydict()
    out = apply_transform(run.view, data, table.num_rows)
    result = {}
    for feature, output in zip(run.features, run.outputs, strict=True):
        dtype = arrow_type(run.view.field(feature).dtype)
        try:
            result[output] = pa.array(out[feature], type=dtype, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidArgumentError(
                f"on-demand view {run.view.name!r}: {feature!r} is not {dtype}: {exc}",
                details={"field": feature, "view": run.view.name}) from exc
    return result
