"""Reading runs with their params, tags and latest metrics: the loader behind run search,
``get_run`` and the stale-run sweep.

Two statements in one transaction: the page of runs, each with its params and tags
aggregated by the database into one JSON text, then the latest metrics of those runs as
plain rows (one snapshot on SQLite; under PostgreSQL's read committed, the metrics
committed when the second statement starts). Metrics do not travel as JSON because
SQLite writes a REAL into JSON with 15 significant digits (``0.1 + 0.2`` would come back
as ``0.3``) and an infinity as invalid JSON; as rows they arrive exactly.

A page statement is compiled once (:class:`PreparedRuns`) and run on the driver's own
connection, so a search pays neither SQLAlchemy's statement building nor its per-row
processing: on a SQLite file the fast reader's raw per-thread connection, otherwise a
pooled connection through ``exec_driver_sql``. Times and booleans go through the column
types' own result processors, so a ``Run`` is what SQLAlchemy would have produced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, Text, cast, func, literal_column, select

from modelplane.store.db import Database
from modelplane.store.tables import params, run_tags, runs
from modelplane.tracking.entities import Run

__all__ = ["RUN_COLUMNS", "PreparedRuns", "RunReader"]

#: The columns a page statement selects first, in the order of ``Run``'s fields.
RUN_COLUMNS = (runs.c.id, runs.c.experiment_id, runs.c.name, runs.c.status, runs.c.lifecycle,
               runs.c.start_time, runs.c.end_time, runs.c.parent_run_id, runs.c.user,
               runs.c.host, runs.c.pid, runs.c.source, runs.c.code_commit, runs.c.code_dirty)

# The latest metrics of a list of run ids, as (position in the list, key, value), each
# run's keys in key order. Both loop over the ids and look each run up by primary key
# (run_id, key), whatever the table's size or statistics: SQLite's CROSS JOIN keeps the
# ids outermost, and OFFSET 0 stops PostgreSQL from flattening the lateral lookup into a
# join it could run as a scan of the whole table.
_METRICS_SQL = {
    "sqlite": "SELECT j.key, m.key, m.value FROM json_each(?) AS j "
              "CROSS JOIN latest_metrics AS m ON m.run_id = j.value",
    "postgresql": "SELECT o.n - 1, m.key, m.value "
                  "FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS o(id, n) "
                  "CROSS JOIN LATERAL (SELECT key, value FROM latest_metrics "
                  "WHERE run_id = o.id ORDER BY key OFFSET 0) AS m",
}

_NAN = float("nan")


def _same(value: Any) -> Any:
    return value


def _text(sql: str) -> ColumnElement[str]:
    return literal_column(sql, Text)


class PreparedRuns:
    """A page statement compiled for one dialect: its SQL and bound values, with the
    ``late`` values (given to :meth:`RunReader.load`) left to fill in."""

    def __init__(self, stmt: Select[Any], dialect: Any, late: Sequence[str]) -> None:
        compiled = stmt.compile(dialect=dialect)
        state = compiled.construct_expanded_state(dict.fromkeys(late))
        self.sql = state.statement
        # what the values' types do to them (a LIKE pattern becomes a GLOB pattern on
        # SQLite, a time its stored text); the state lists only the expanded IN values'
        processors: dict[str, Callable[[Any], Any]] = dict(state.processors)
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.setdefault(name, process)
        values = {name: (processors[name](value) if name in processors else value)
                  for name, value in state.parameters.items()}
        self._late = [(name, processors.get(name)) for name in late]
        self._order = state.positiontup
        self._values = values if self._order is None else [values[n] for n in self._order]
        self._slots = {name: [i for i, n in enumerate(self._order or ()) if n == name]
                       for name in late}

    def args(self, late: Mapping[str, Any]) -> Any:
        """The driver's parameters: a tuple (positional styles) or a dict."""
        if self._order is None:
            named = dict(self._values)
            for name, process in self._late:
                named[name] = late[name] if process is None else process(late[name])
            return named
        positional = list(self._values)
        for name, process in self._late:
            value = late[name] if process is None else process(late[name])
            for i in self._slots[name]:
                positional[i] = value
        return tuple(positional)


class RunReader:
    """Turns page statements into ``Run`` objects for one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.engine.dialect
        self._metrics_sql = _METRICS_SQL[db.dialect]
        # the other columns are strings and integers, which no driver needs converted
        self._time, self._bool = (self._processor(runs.c.start_time),
                                  self._processor(runs.c.code_dirty))

    def _processor(self, column: ColumnElement[Any]) -> Callable[[Any], Any]:
        process = column.type.dialect_impl(self.dialect).result_processor(self.dialect, None)
        return process or _same

    def prepare(self, page: Select[Any], order_by: Sequence[tuple[str, bool, bool]] = (),
                late: Sequence[str] = ()) -> PreparedRuns:
        """``page`` selects :data:`RUN_COLUMNS` (and may add labelled sort keys); the
        outer statement adds each run's params and tags and, when ``order_by`` names
        those labels as ``(label, descending, nulls_last)``, keeps the page's order."""
        sub = page.subquery("page")
        aggregates = [self._aggregate(table, sub.c.id) for table in (params, run_tags)]
        kv = (_text("'['") + aggregates[0] + _text("','") + aggregates[1] + _text("']'"))
        stmt = select(*(sub.c[c.key] for c in RUN_COLUMNS), kv)
        for label, descending, nulls_last in order_by:
            key = sub.c[label].desc() if descending else sub.c[label].asc()
            stmt = stmt.order_by(key.nulls_last() if nulls_last else key)
        return PreparedRuns(stmt, self.dialect, late)

    def _aggregate(self, table: Any, run_id: ColumnElement[Any]) -> ColumnElement[str]:
        """A run's ``key: value`` pairs of ``table`` as JSON text (``{}`` when none)."""
        agg = func.json_group_object if self.db.dialect == "sqlite" else func.json_object_agg
        sub = (select(agg(table.c.key, table.c.value)).where(table.c.run_id == run_id)
               .scalar_subquery())
        return func.coalesce(cast(sub, Text), _text("'{}'"))

    def load(self, prepared: PreparedRuns, late: Mapping[str, Any] | None = None) -> list[Run]:
        """The runs of ``prepared`` given its ``late`` values, in the page's order."""
        args = prepared.args(late or {})
        rows: Sequence[Any]
        metric_rows: Sequence[Any] = ()
        if self.db.fast.path is not None:
            with self.db.fast.snapshot() as raw:
                rows = raw.execute(prepared.sql, args).fetchall()
                if rows:
                    metric_rows = raw.execute(self._metrics_sql, self._ids(rows)).fetchall()
        else:
            with self.db.connection_scope(readonly=True) as conn:
                rows = conn.exec_driver_sql(prepared.sql, args).fetchall()
                if rows:
                    metric_rows = conn.exec_driver_sql(self._metrics_sql,
                                                       self._ids(rows)).fetchall()
        return self._runs(rows, metric_rows)

    def _ids(self, rows: Sequence[Any]) -> Any:
        ids = [row[0] for row in rows]
        return (orjson.dumps(ids).decode(),) if self.db.dialect == "sqlite" else {"ids": ids}

    def _runs(self, rows: Sequence[Any], metric_rows: Sequence[Any]) -> list[Run]:
        metrics: list[dict[str, float]] = [{} for _ in rows]
        for i, key, value in metric_rows:
            metrics[i][key] = _NAN if value is None else value
        time, boolean, loads = self._time, self._bool, orjson.loads
        out = []
        for (run_id, experiment_id, name, status, lifecycle, start_time, end_time, parent,
             user, host, pid, source, commit, code_dirty, kv), m in zip(rows, metrics,
                                                                        strict=True):
            p, t = loads(kv)
            out.append(Run(run_id, experiment_id, name, status, lifecycle, time(start_time),
                           time(end_time), parent, user, host, pid, source, commit,
                           boolean(code_dirty), p, m, t))
        return out
