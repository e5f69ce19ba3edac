"""Storage protocols of monitoring, one per aggregate.

- :class:`PredictionStore`: the prediction log and what is derived from it in the same
  transaction (health buckets, binned drift counts), labels, windows, retention.
- :class:`ReferenceStore`: one reference profile per (model, version).
- :class:`RuleStore`: alert rules and the alert history.

Times are epoch milliseconds; a bucket is named by its start. ``SqlPredictionStore``,
``SqlReferenceStore`` and ``SqlRuleStore`` (``monitoring.sql``) implement them on the
metadata database; ``ParquetPredictionStore`` (``monitoring.parquet``) keeps the log's rows
as Parquet in the artifact store and the rest in the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from modelplane.monitoring.alerts import Alert, Rule
from modelplane.monitoring.counts import CountVector
from modelplane.monitoring.health import StatsBucket
from modelplane.monitoring.predlog.rows import LogRow
from modelplane.monitoring.profiles import Layout, Reference

__all__ = ["CountsKey", "LogPosition", "PredictionStore", "ReferenceStore", "RuleStore",
           "StatsKey"]

StatsKey = tuple[str, int, int]  # model, version, bucket
CountsKey = tuple[str, str, int, int]  # reference id, model, version, bucket
# A row's place in the log's order, opaque to callers: only what ``first_of_last`` returned
# is passed back (the database: the row id; Parquet: ``(ts, file, row in file)``).
LogPosition = Any


class PredictionStore(Protocol):
    def write_batch(self, rows: Sequence[LogRow], stats: dict[StatsKey, StatsBucket],
                    counts: dict[CountsKey, CountVector]) -> None:
        """Insert ``rows`` (inputs and outputs as JSON text) and add ``stats`` and
        ``counts`` into their buckets, in one transaction (concurrent writers to one bucket
        add up, none is lost)."""

    def stats(self, model: str, start: int | None, end: int | None,
              version: int | None = None) -> list[tuple[int, int, StatsBucket]]:
        """``(version, bucket, stats)`` for buckets starting in ``[start, end)``."""

    def newest_buckets(self, model: str, count: int, version: int | None = None) -> int | None:
        """The start of the oldest bucket needed so the newest buckets hold ``count``
        predictions (None: no predictions)."""

    def counts(self, reference_id: str, layout: Layout, versions: Sequence[int] | None,
               start: int | None, end: int | None) -> tuple[CountVector, list[int]]:
        """The sum of the counts of ``reference_id`` in ``[start, end)`` and the versions
        it covers (``versions`` None: all)."""

    def find_predictions(self, model: str, keys: Sequence[tuple[str, int]]
                         ) -> dict[tuple[str, int], int]:
        """Which ``(request id, row index)`` keys were logged, with their time."""

    def read_log(self, model: str, start: int | None, end: int | None, *,
                 version: int | None = None, request_id: str | None = None,
                 limit: int = 100) -> list[tuple[Any, ...]]:
        """Up to ``limit`` logged rows in ``[start, end)``, newest first (by time, then
        the order written), in ``rows.LOG_COLUMNS`` order with inputs and outputs as
        values."""

    def labels_of(self, model: str, keys: Sequence[tuple[str, int]]
                  ) -> dict[tuple[str, int], Any]:
        """The labels joined to these ``(request id, row index)`` keys."""

    def put_labels(self, model: str, rows: Sequence[tuple[str, int, Any, int]], now: int) -> None:
        """Upsert ``(request id, row index, label, prediction time)`` rows."""

    def labelled(self, model: str, start: int | None, end: int | None,
                 version: int | None = None, *, first_id: LogPosition | None = None
                 ) -> list[tuple[int, Any, Any]]:
        """``(version, outputs, label)`` of labelled predictions made in ``[start, end)``
        (and at or after position ``first_id`` in the log's order)."""

    def prediction_counts(self, model: str, start: int | None, end: int | None,
                          version: int | None = None, *, first_id: LogPosition | None = None
                          ) -> dict[int, int]:
        """Predictions per version made in ``[start, end)`` (from position ``first_id``)."""

    def first_of_last(self, model: str, count: int, version: int | None = None
                      ) -> LogPosition | None:
        """The position of the ``count``-th most recent prediction in the log's order (the
        oldest when fewer were logged; None when none). The database orders by row id (the
        order rows were logged); Parquet by prediction time, then write order."""

    def iter_predictions(self, model: str, versions: Sequence[int] | None, since: int | None
                         ) -> Iterator[list[tuple[int, int, Any, Any]]]:
        """Chunks of ``(version, time, inputs, outputs)`` made at or after ``since``, for
        recounting (which needs no order: the database gives log order, Parquet day by
        day and write order within a day)."""

    def replace_counts(self, reference_id: str, counts: dict[CountsKey, CountVector]) -> None:
        """Drop every count of ``reference_id`` and store ``counts`` instead."""

    def delete_before(self, cutoff: int) -> dict[str, int]:
        """Retention: delete log rows, labels and buckets older than ``cutoff`` (Parquet:
        older than the start of the cutoff's UTC day); returns how many of each."""

    def compact(self) -> int:
        """Merge what writing left small (Parquet: the part files of past hours); returns
        how many files were merged away (the database: none)."""


class ReferenceStore(Protocol):
    def put(self, model: str, version: int, source: str, features: dict[str, Any],
            predictions: dict[str, Any] | None) -> Reference:
        """Store (or replace) the reference of ``(model, version)``; a new id each time."""

    def get(self, model: str, version: int) -> Reference | None: ...

    def list_references(self, model: str) -> list[Reference]: ...

    def delete(self, model: str, version: int) -> bool: ...


class RuleStore(Protocol):
    def create(self, rule: Rule) -> Rule: ...

    def get(self, model: str, name: str) -> Rule: ...

    def list_rules(self, model: str | None = None, *, enabled_only: bool = False
                   ) -> list[Rule]: ...

    def delete(self, model: str, name: str) -> None: ...

    def claim(self, rule_id: str, now: int, cooldown_s: float) -> bool:
        """Atomically mark the rule fired at ``now`` unless it fired within its cooldown
        (so several evaluating replicas fire it once)."""

    def add_alert(self, alert: Alert) -> Alert: ...

    def finish_alert(self, alert_id: str, status: str, actions: list[dict[str, Any]]) -> None: ...

    def alerts(self, model: str | None = None, *, limit: int = 100,
               rule: str | None = None) -> list[Alert]: ...
