"""Fill a modelplane database with many runs quickly: bulk inserts straight into the
tables (``executemany`` on SQLite, ``COPY`` on PostgreSQL), the same rows the Python API
would write. Used by ``benchmarks/catalogue_scale.py`` and by the scale tests.

Each run has ``PARAMS`` params ``p0..p9`` (``p0`` is one of four learning rates, ``p1`` one
of 100 values), ``METRICS`` latest metrics ``m0..m9`` (uniform in [0, 1)) with one
history point each, and a ``team`` tag.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from modelplane.store.db import Database

__all__ = ["LEARNING_RATES", "METRICS", "PARAMS", "metric_value", "param_value", "seed_runs"]

PARAMS = 10
METRICS = 10
LEARNING_RATES = ("0.001", "0.01", "0.1", "1.0")
_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def param_value(i: int, j: int) -> str:
    if j == 0:
        return LEARNING_RATES[i % 4]
    return str((i * (7 + j)) % (100 if j == 1 else 10 * j + 3))


def metric_value(i: int, j: int) -> float:
    # a different multiplier per metric: the metrics of a run are not correlated
    return ((i + 1) * (7919 + 104_729 * j) % 1_000_003) / 1_000_003


def _run_id(start: int, i: int) -> str:
    return f"{start + i:032x}"


def _rows(n: int, start: int, experiment_id: str) -> Iterator[tuple[str, list[Any]]]:
    yield "runs", [(_run_id(start, i), experiment_id, f"run-{start + i}", "finished",
                    "active", _T0 + timedelta(seconds=start + i),
                    _T0 + timedelta(seconds=start + i + 60), "bench", "host", "")
                   for i in range(n)]
    yield "params", [(_run_id(start, i), f"p{j}", param_value(start + i, j))
                     for i in range(n) for j in range(PARAMS)]
    yield "run_tags", [(_run_id(start, i), "team", ("a", "b", "c")[(start + i) % 3])
                       for i in range(n)]
    ms = int(_T0.timestamp() * 1000)
    metric = [(_run_id(start, i), f"m{j}", metric_value(start + i, j), 0, ms + start + i)
              for i in range(n) for j in range(METRICS)]
    yield "latest_metrics", metric
    yield "metrics", metric


_COLUMNS = {
    "runs": "id, experiment_id, name, status, lifecycle, start_time, end_time, \"user\", "
            "host, source",
    "params": "run_id, key, value",
    "run_tags": "run_id, key, value",
    "latest_metrics": "run_id, key, value, step, timestamp",
    "metrics": "run_id, key, value, step, timestamp",
}


def seed_runs(db: Database, experiment_id: str, n: int, *, start: int = 0,
              chunk: int = 20_000) -> float:
    """Insert ``n`` runs into ``experiment_id`` (ids from ``start``); return the seconds
    taken. Statistics are refreshed afterwards (``ANALYZE``) as autovacuum would."""
    began = time.perf_counter()
    db.ensure_schema()
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for first in range(0, n, chunk):
            for table, rows in _rows(min(chunk, n - first), start + first, experiment_id):
                _insert(db.dialect, cursor, table, rows)
            raw.commit()
        raw.commit()
    finally:
        raw.close()
    _analyze(db)
    return time.perf_counter() - began


def _analyze(db: Database) -> None:
    """Statistics (and on PostgreSQL the visibility map, for index-only scans), as
    autovacuum would keep them."""
    raw = db.engine.raw_connection()
    try:
        if db.dialect == "postgresql":
            driver: Any = raw.driver_connection
            raw.commit()
            driver.autocommit = True
            try:
                driver.execute("VACUUM ANALYZE")
            finally:
                driver.autocommit = False
        else:
            raw.cursor().execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()


def _insert(dialect: str, cursor: Any, table: str, rows: list[Any]) -> None:
    columns = _COLUMNS[table]
    if dialect == "postgresql":
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    rows = [tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)
            for row in rows]
    marks = ", ".join("?" * len(rows[0]))
    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
