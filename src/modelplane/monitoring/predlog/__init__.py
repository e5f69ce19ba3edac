"""The prediction log: every served prediction, written off the request path.

- ``logger``: the :class:`PredictionLogger` protocol a serving process holds, and the
  :class:`PredictionSink` a thread logger writes to.
- ``thread``: :class:`ThreadLogger`, writing on a thread of this process.
- ``process`` and ``wire``: :class:`ProcessLogger`, whose writer process
  (``modelplane.workers.predlog_writer``) does the writing, and the pipe between them.
- ``records``: :class:`PredictionRecord`, what the Python API logs, and its checks.
- ``served``: what the serving layer hands over per request (answers, bodies).
- ``rows``: :class:`LogRow`, a row as the stores write it, and :class:`LogBatch`.

The stores themselves are ``monitoring.sql`` and ``monitoring.parquet``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.monitoring.predlog.logger import LoggerStats, PredictionLogger, PredictionSink
    from modelplane.monitoring.predlog.process import ProcessLogger
    from modelplane.monitoring.predlog.records import PredictionRecord
    from modelplane.monitoring.predlog.rows import LOG_COLUMNS, LogBatch, LogRow
    from modelplane.monitoring.predlog.thread import ThreadLogger

__all__ = ["LOG_COLUMNS", "LogBatch", "LogRow", "LoggerStats", "PredictionLogger",
           "PredictionRecord", "PredictionSink", "ProcessLogger", "ThreadLogger"]

_LAZY = {"LoggerStats": "logger", "PredictionLogger": "logger", "PredictionSink": "logger",
         "ProcessLogger": "process", "PredictionRecord": "records", "LOG_COLUMNS": "rows",
         "LogBatch": "rows", "LogRow": "rows", "ThreadLogger": "thread"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelplane.monitoring.predlog' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"modelplane.monitoring.predlog.{module}"), name)
    globals()[name] = value
    return value
