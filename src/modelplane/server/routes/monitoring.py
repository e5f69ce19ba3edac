"""``/api/v1/monitoring/{model}/...``: the prediction log, labels, references, health,
drift, performance, reports, alert rules and alerts over HTTP.

Handlers parse, call :class:`~modelplane.monitoring.service.MonitoringService` and return
a schema. A window that does not parse, a rule on an unknown metric or action: 422 naming
the field; a model without a reference profile: 404 saying how to set one. Labels for
unknown request ids are counted in the response, never failing the batch.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import HTMLResponse

from modelplane.server.deps import MAX_VERSION, MonitoringDep
from modelplane.server.schemas.monitoring import (
    AlertListOut,
    AlertOut,
    DriftOut,
    LabelsCreate,
    LabelsOut,
    LoggedPredictionOut,
    LoggedPredictionsOut,
    ModelHealthOut,
    PerformanceOut,
    PredictionsCreate,
    PredictionsOut,
    ReferenceCreate,
    ReferenceListOut,
    ReferenceOut,
    RuleCreate,
    RuleListOut,
    RuleOut,
)

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

WindowQ = Annotated[str, Query(max_length=128, description="30s, 15m, 1h, 7d, 1000p, or "
                                                          "START..END (ISO-8601)")]
VersionQ = Annotated[int | None, Query(ge=0, le=MAX_VERSION)]


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@router.post("/{model}/predictions", response_model=PredictionsOut, status_code=201)
def log_predictions(monitoring: MonitoringDep, model: str,
                    body: PredictionsCreate) -> PredictionsOut:
    """Store predictions now (a remote serving process or a backfill)."""
    records = []
    for r in body.records:
        data = r.model_dump()
        when = data.get("time")
        data["time"] = when.timestamp() if isinstance(when, datetime) else when
        records.append({**data, "model": model})
    return PredictionsOut(accepted=monitoring.log_predictions(records))


@router.get("/{model}/predictions", response_model=LoggedPredictionsOut)
def read_predictions(monitoring: MonitoringDep, model: str, window: WindowQ = "1h",
                     version: VersionQ = None,
                     request_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 100
                     ) -> LoggedPredictionsOut:
    """Logged predictions, newest first, each with its label when one was joined."""
    found = monitoring.prediction_log(model, window, version=version, request_id=request_id,
                                   limit=limit)
    return LoggedPredictionsOut(model=model, window=window, predictions=[
        LoggedPredictionOut(**_finite(p.to_dict())) for p in found])


@router.post("/{model}/labels", response_model=LabelsOut)
def log_labels(monitoring: MonitoringDep, model: str, body: LabelsCreate) -> LabelsOut:
    result = monitoring.log_labels(model, [lbl.model_dump() for lbl in body.labels])
    return LabelsOut(**result.to_dict())


@router.put("/{model}/reference", response_model=ReferenceOut)
def set_reference(monitoring: MonitoringDep, model: str, body: ReferenceCreate) -> ReferenceOut:
    ref = monitoring.set_reference(model, body.data, predictions=body.predictions,
                                   version=body.version, dataset=body.dataset, bins=body.bins,
                                   top_k=body.top_k)
    return ReferenceOut(**ref.to_dict())


@router.get("/{model}/reference", response_model=ReferenceOut,
            response_model_exclude_none=True)
def get_reference(monitoring: MonitoringDep, model: str, version: VersionQ = None,
                  profiles: bool = False) -> ReferenceOut:
    """The reference a version's predictions are measured against; ``profiles``: with
    its full feature and prediction profiles."""
    ref = monitoring.reference(model, version)
    full = {"features": _finite(ref.features), "predictions": _finite(ref.predictions)}
    return ReferenceOut(**ref.to_dict(), profiles=full if profiles else None)


@router.get("/{model}/references", response_model=ReferenceListOut)
def list_references(monitoring: MonitoringDep, model: str) -> ReferenceListOut:
    return ReferenceListOut(references=[ReferenceOut(**r.to_dict())
                                        for r in monitoring.list_references(model)])


@router.delete("/{model}/reference", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
def delete_reference(monitoring: MonitoringDep, model: str, version: VersionQ = None
                     ) -> Response:
    monitoring.delete_reference(model, version)
    return Response(status_code=204)


@router.get("/{model}/health", response_model=ModelHealthOut)
def health(monitoring: MonitoringDep, model: str, window: WindowQ = "1h",
           version: VersionQ = None) -> ModelHealthOut:
    return ModelHealthOut(**_finite(monitoring.health(model, window, version).to_dict()))


@router.get("/{model}/drift", response_model=DriftOut)
def drift(monitoring: MonitoringDep, model: str, window: WindowQ = "1h",
          version: VersionQ = None) -> DriftOut:
    return DriftOut(**_finite(monitoring.drift(model, window, version).to_dict()))


@router.get("/{model}/performance", response_model=PerformanceOut)
def performance(monitoring: MonitoringDep, model: str, window: WindowQ = "1h",
                version: VersionQ = None, task: str | None = None) -> PerformanceOut:
    report = monitoring.performance(model, window, version, task)
    return PerformanceOut(**_finite(report.to_dict()))


@router.get("/{model}/report", response_model=None)
def report(monitoring: MonitoringDep, model: str, window: WindowQ = "1h",
           version: VersionQ = None,
           format: Annotated[str, Query(pattern="^(json|html)$")] = "json") -> Any:
    """Health, performance and drift together; ``format=html`` for the standalone page."""
    from modelplane.monitoring.report import build_report, render_html

    built = build_report(monitoring, model, window, version)
    if format == "html":
        return HTMLResponse(render_html(built))
    return _finite(built.to_dict())


@router.get("/{model}/rules", response_model=RuleListOut)
def list_rules(monitoring: MonitoringDep, model: str) -> RuleListOut:
    return RuleListOut(rules=[RuleOut.model_validate(r) for r in monitoring.list_rules(model)])


@router.post("/{model}/rules", response_model=RuleOut, status_code=201)
def create_rule(monitoring: MonitoringDep, model: str, body: RuleCreate) -> RuleOut:
    rule = monitoring.create_rule(
        model, body.name, body.metric, body.threshold, op=body.op, window=body.window,
        version=body.version, cooldown=body.cooldown, actions=body.actions,
        enabled=body.enabled)
    return RuleOut.model_validate(rule)


@router.delete("/{model}/rules/{name}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
def delete_rule(monitoring: MonitoringDep, model: str, name: str) -> Response:
    monitoring.delete_rule(model, name)
    return Response(status_code=204)


@router.post("/{model}/rules/evaluate", response_model=AlertListOut)
def evaluate_rules(monitoring: MonitoringDep, model: str, wait: bool = False) -> AlertListOut:
    """Evaluate the model's rules now; actions run in the background unless ``wait``."""
    fired = monitoring.evaluate_rules(model, wait_for_actions=wait)
    return AlertListOut(alerts=[AlertOut(**_finite(a.to_dict())) for a in fired])


@router.get("/{model}/alerts", response_model=AlertListOut)
def list_alerts(monitoring: MonitoringDep, model: str,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                rule: str | None = None) -> AlertListOut:
    alerts = monitoring.alerts(model, limit=limit, rule=rule)
    return AlertListOut(alerts=[AlertOut(**_finite(a.to_dict())) for a in alerts])
