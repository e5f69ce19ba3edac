"""``RemoteMonitoring``: a remote client's monitoring, through ``/api/v1/monitoring``.

The prediction log lives where the model is served, and health, drift and performance
are computed next to it (a window can hold millions of rows), so the remote seam is the
service's own surface (:class:`MonitoringOperations`: what users, the CLI and the quickstart
call on :class:`~modelplane.monitoring.service.MonitoringService`), each method one request.
Answers come back as the same records the embedded service returns (``HealthReport``,
``DriftReport``, ``Reference``, ``Rule``...), rebuilt from their JSON, so the CLI's tables
and the HTML report render the same in both modes. JSON has no NaN: a non-finite figure
comes back as None.
"""

from __future__ import annotations

import builtins
import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.remote.http import RemoteTransport, segment

if TYPE_CHECKING:
    from modelplane.monitoring.alerts import Alert, Rule
    from modelplane.monitoring.entities import DriftReport, LabelResult, LoggedPrediction
    from modelplane.monitoring.health import HealthReport
    from modelplane.monitoring.performance import PerformanceReport
    from modelplane.monitoring.profiles import Reference

__all__ = ["MonitoringOperations", "RemoteMonitoring", "record"]


class MonitoringOperations(Protocol):
    """What callers do with monitoring; :class:`MonitoringService` (embedded) and
    :class:`RemoteMonitoring` (remote) both satisfy it."""

    def log_predictions(self, records: Iterable[Any]) -> int: ...

    def prediction_log(self, model: str, window: str = "1h", *, version: int | None = None,
                       request_id: str | None = None, limit: int = 100
                       ) -> builtins.list[LoggedPrediction]: ...

    def log_labels(self, model: str, labels: Any) -> LabelResult: ...

    def set_reference(self, model: str, data: Any = None, *, predictions: Any = None,
                      version: int | None = None, dataset: str | None = None,
                      bins: int = 100, top_k: int = 1000) -> Reference: ...

    def reference(self, model: str, version: int | None = None) -> Reference: ...

    def list_references(self, model: str) -> builtins.list[Reference]: ...

    def delete_reference(self, model: str, version: int | None = None) -> None: ...

    def health(self, model: str, window: str = "1h", version: int | None = None
               ) -> HealthReport: ...

    def drift(self, model: str, window: str = "1h", version: int | None = None
              ) -> DriftReport: ...

    def performance(self, model: str, window: str = "1h", version: int | None = None,
                    task: str | None = None) -> PerformanceReport: ...


def record(cls: type[Any], data: Any) -> Any:
    """An instance of dataclass ``cls`` from its ``to_dict``/JSON form: nested dataclasses,
    lists and tuples of them, optional fields and ISO times are rebuilt by type hint;
    keys that are not init fields are ignored."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.init and f.name in data:
            values[f.name] = _value(hints[f.name], data[f.name])
    return cls(**values)


def _value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _value(inner[0], value) if len(inner) == 1 else value
    if hint is datetime:
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return record(hint, value)  # type: ignore[arg-type]
    if origin in (list, builtins.list) and args:
        return [_value(args[0], v) for v in value]
    if origin is tuple and args:
        return tuple(_value(args[0], v) for v in value)
    return value


class RemoteMonitoring:
    """Monitoring on the server at ``transport``."""

    def __init__(self, transport: RemoteTransport) -> None:
        self.http = transport

    @staticmethod
    def _path(model: str, what: str) -> str:
        return f"/monitoring/{segment(model)}/{what}"

    # -- the log and labels -------------------------------------------------------------
    def log_predictions(self, records: Iterable[Any]) -> int:
        """Store records now (each names its ``model``), one request per model."""
        by_model: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            row = dict(r if isinstance(r, Mapping) else dataclasses.asdict(r))
            by_model.setdefault(str(row.pop("model")), []).append(
                {k: v for k, v in row.items() if v is not None})
        return sum(int(self.http.post(self._path(m, "predictions"), {"records": rows})
                       ["accepted"]) for m, rows in by_model.items())

    def prediction_log(self, model: str, window: str = "1h", *, version: int | None = None,
                       request_id: str | None = None, limit: int = 100
                       ) -> builtins.list[LoggedPrediction]:
        from modelplane.monitoring.entities import LoggedPrediction

        answer = self.http.get(self._path(model, "predictions"), window=str(window),
                               version=version, request_id=request_id, limit=limit)
        return [record(LoggedPrediction, p) for p in answer["predictions"]]

    def log_labels(self, model: str, labels: Any) -> LabelResult:
        """``labels`` as the embedded call takes them (rows, a mapping, a DataFrame)."""
        from modelplane.monitoring.entities import LabelResult, label_rows

        rows = [{"request_id": r, "row_index": i, "label": label}
                for r, i, label in label_rows(labels)]
        return record(LabelResult, self.http.post(self._path(model, "labels"),
                                                  {"labels": rows}))

    # -- references ---------------------------------------------------------------------
    def set_reference(self, model: str, data: Any = None, *, predictions: Any = None,
                      version: int | None = None, dataset: str | None = None,
                      bins: int = 100, top_k: int = 1000) -> Reference:
        """From ``dataset`` (a logged dataset's digest) or ``data`` (anything
        ``to_arrow`` reads: a frame, a CSV or Parquet path), sent as columns."""
        self.http.put(self._path(model, "reference"), {
            "data": None if data is None else _columns(data),
            "predictions": None if predictions is None else _predictions(predictions),
            "version": version, "dataset": dataset, "bins": bins, "top_k": top_k})
        return self.reference(model, version)

    def reference(self, model: str, version: int | None = None) -> Reference:
        from modelplane.monitoring.profiles import Reference

        data = self.http.get(self._path(model, "reference"), version=version, profiles=True)
        profiles = data.pop("profiles")
        return record(Reference, {**data, **profiles})

    def list_references(self, model: str) -> builtins.list[Reference]:
        return [self.reference(model, r["version"]) for r in
                self.http.get(self._path(model, "references"))["references"]]

    def delete_reference(self, model: str, version: int | None = None) -> None:
        self.http.delete(self._path(model, "reference"), version=version)

    # -- figures ------------------------------------------------------------------------
    def health(self, model: str, window: str = "1h", version: int | None = None
               ) -> HealthReport:
        from modelplane.monitoring.health import HealthReport

        return record(HealthReport, self.http.get(self._path(model, "health"),
                                                  window=str(window), version=version))

    def drift(self, model: str, window: str = "1h", version: int | None = None
              ) -> DriftReport:
        from modelplane.monitoring.drift import DriftResult
        from modelplane.monitoring.entities import DriftReport

        data = self.http.get(self._path(model, "drift"), window=str(window), version=version)
        reference = self.reference(model, data["reference"]["version"] or None)
        return DriftReport(model=data["model"], window=data["window"],
                           versions=list(data["versions"]), reference=reference,
                           result=record(DriftResult, data))

    def performance(self, model: str, window: str = "1h", version: int | None = None,
                    task: str | None = None) -> PerformanceReport:
        from modelplane.monitoring.performance import PerformanceReport

        return record(PerformanceReport, self.http.get(
            self._path(model, "performance"), window=str(window), version=version, task=task))

    def metric_value(self, model: str, metric: str, window: str = "1h",
                     version: int | None = None) -> float | None:
        """A rule metric's value now (as rules and canary gates read it)."""
        from modelplane.monitoring.evaluation import metric_value

        return metric_value(self, model, metric, window, version)  # type: ignore[arg-type]

    def report_html(self, model: str, window: str = "1h", version: int | None = None) -> str:
        """The standalone HTML report, rendered by the server."""
        return self.http.request("GET", self._path(model, "report"), params={
            "window": str(window), "format": "html",
            **({} if version is None else {"version": version})}).text

    # -- rules and alerts ---------------------------------------------------------------
    def create_rule(self, model: str, name: str, metric: str, threshold: float, *,
                    op: str = ">", window: str = "1h", version: int | None = None,
                    cooldown: str | float = "10m", actions: Any = None,
                    enabled: bool = True) -> Rule:
        from modelplane.monitoring.alerts import Rule

        return record(Rule, self.http.post(self._path(model, "rules"), {
            "name": name, "metric": metric, "threshold": threshold, "op": op,
            "window": window, "version": version, "cooldown": cooldown,
            "actions": list(actions or []), "enabled": enabled}))

    def list_rules(self, model: str | None = None) -> builtins.list[Rule]:
        if model is None:
            from modelplane.remote.unavailable import not_available

            raise not_available("listing every model's rules (name the model)")
        from modelplane.monitoring.alerts import Rule

        return [record(Rule, r) for r in self.http.get(self._path(model, "rules"))["rules"]]

    def get_rule(self, model: str, name: str) -> Rule:
        from modelplane.core.errors import NotFoundError

        for rule in self.list_rules(model):
            if rule.name == name:
                return rule
        raise NotFoundError(f"model {model!r} has no alert rule {name!r}",
                            details={"model": model, "rule": name})

    def delete_rule(self, model: str, name: str) -> None:
        self.http.delete(self._path(model, f"rules/{segment(name)}"))

    def alerts(self, model: str | None = None, *, limit: int = 100,
               rule: str | None = None) -> builtins.list[Alert]:
        if model is None:
            from modelplane.remote.unavailable import not_available

            raise not_available("every model's alerts (name the model)")
        from modelplane.monitoring.alerts import Alert

        answer = self.http.get(self._path(model, "alerts"), limit=limit, rule=rule)
        return [record(Alert, a) for a in answer["alerts"]]

    def evaluate_rules(self, model: str | None = None, *, wait_for_actions: bool = False
                       ) -> builtins.list[Alert]:
        """The server evaluates ``model``'s rules now and runs their actions there."""
        if model is None:
            from modelplane.remote.unavailable import not_available

            raise not_available("evaluating every model's rules (name the model)")
        from modelplane.monitoring.alerts import Alert

        answer = self.http.post(self._path(model, "rules/evaluate"), wait=wait_for_actions)
        return [record(Alert, a) for a in answer["alerts"]]

    def close(self) -> None:
        """Nothing to flush: every call is answered when it returns."""

    def __repr__(self) -> str:
        return f"<RemoteMonitoring {self.http.server_url}>"


def _columns(data: Any) -> dict[str, list[Any]]:
    from modelplane.data import to_arrow

    table = to_arrow(data)
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _predictions(predictions: Any) -> dict[str, list[Any]] | list[Any]:
    try:
        return _columns(predictions)
    except Exception:  # one output as a plain sequence
        import numpy as np

        return np.asarray(predictions).tolist()  # type: ignore[no-any-return]
