"""Every served prediction goes to monitoring's prediction log, off the request path.

``ServingLog.log`` runs after the answer is sent: it splits a request into one record per
row (request id, model, version, inputs, outputs, latency, deployment, variant, status)
and hands them to the non-blocking :class:`~modelplane.monitoring.log.PredictionLogger`,
whose bounded queue counts what it has to drop. It never raises into a request.
``MODELPLANE_PREDICTION_LOG=false`` turns it off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

__all__ = ["ServingLog", "plain_values", "request_rows"]

log = logging.getLogger("modelplane.serving")


def plain_values(values: Any) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    out = tolist() if callable(tolist) else values
    return list(out) if isinstance(out, list | tuple) else [out]


def request_rows(data: Any) -> Iterator[Any]:
    """Rows of a request's data: records, a dict of columns, a DataFrame or an array."""
    if isinstance(data, dict):
        values = list(data.values())
        if values and all(isinstance(v, list) for v in values):
            for i in range(len(values[0])):
                yield {k: data[k][i] for k in data}
            return
        yield data
        return
    if isinstance(data, list):
        yield from data
        return
    to_dict = getattr(data, "to_dict", None)
    if callable(to_dict):
        yield from to_dict("records")
        return
    yield from plain_values(data)


class ServingLog:
    """The prediction log of one server process (the logger is created on first use)."""

    def __init__(self, client: Any, *, enabled: bool = True) -> None:
        self.client = client
        self.enabled = enabled
        self._logger: Any = None

    @property
    def logger(self) -> Any:
        if self._logger is None:
            self._logger = self.client.monitoring.logger()
        return self._logger

    def log(self, model: str, version: int, request_id: str, data: Any, result: Any,
            seconds: float, *, error: str | None = None, deployment: str | None = None,
            variant: str | None = None, force: bool = False) -> None:
        """Log one answered (or failed) request; ``force`` logs even when disabled
        (a canary whose gates need the log)."""
        if not (self.enabled or force):
            return
        try:
            logger = self.logger
            rows = list(request_rows(data))
            preds = plain_values(result[0]) if result is not None else [None] * len(rows)
            probas = (plain_values(result[1]) if result is not None and result[1] is not None
                      else [None] * len(rows))
            for i, (row, pred, proba) in enumerate(zip(rows, preds, probas, strict=False)):
                out = {"prediction": pred} if proba is None else {
                    "prediction": pred, "probabilities": proba}
                logger.log({"request_id": request_id, "model": model, "version": version,
                            "inputs": row, "outputs": None if error else out,
                            "latency_s": seconds, "deployment": deployment,
                            "variant": variant, "status": "error" if error else "ok",
                            "error": error, "row_index": i})
        except Exception:  # the log never fails a request
            log.debug("prediction log: could not log an answer", exc_info=True)

    def flush(self, timeout: float = 5.0) -> None:
        if self._logger is not None:
            self._logger.flush(timeout)
