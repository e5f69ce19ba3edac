"""``/api/v1/pipelines``: pipeline runs, lineage, schedules and triggers over HTTP.

Runs happen in ``modelplane pipelines run`` or a scheduler, not in the server: over HTTP a
client reads runs and lineage, manages schedules and queues triggers (what a monitoring
alert does), which ``modelplane scheduler`` then runs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response, status

from modelplane.server.deps import ClientDep, VersionPath
from modelplane.server.schemas.pipelines import (
    PipelineRunOut,
    ScheduleCreate,
    ScheduleOut,
    TriggerCreate,
    TriggerOut,
)

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


@router.get("/runs", response_model=list[PipelineRunOut])
def list_runs(client: ClientDep, pipeline: str | None = None,
              limit: int = Query(50, ge=1, le=10_000)) -> list[PipelineRunOut]:
    return [PipelineRunOut.of(r) for r in client.pipelines.list_runs(pipeline, limit=limit)]


@router.get("/runs/{run_id}", response_model=PipelineRunOut)
def get_run(run_id: str, client: ClientDep) -> PipelineRunOut:
    return PipelineRunOut.of(client.pipelines.get_run(run_id))


@router.get("/runs/{run_id}/lineage")
def run_lineage(run_id: str, client: ClientDep) -> dict[str, Any]:
    return client.pipelines.run_lineage(run_id)


@router.get("/models/{name}/versions/{version}/lineage")
def model_lineage(name: str, version: VersionPath, client: ClientDep) -> dict[str, Any]:
    return client.pipelines.model_lineage(name, version).to_dict()


@router.get("/artifacts/{digest}/lineage")
def artifact_lineage(digest: str, client: ClientDep) -> dict[str, Any]:
    return client.pipelines.artifact_lineage(digest)


@router.get("/schedules", response_model=list[ScheduleOut])
def list_schedules(client: ClientDep) -> list[ScheduleOut]:
    return [ScheduleOut.model_validate(s.to_dict())
            for s in client.pipelines.scheduler.list_schedules()]


@router.post("/schedules", response_model=ScheduleOut, status_code=201)
def create_schedule(body: ScheduleCreate, client: ClientDep) -> ScheduleOut:
    created = client.pipelines.scheduler.create_schedule(body.pipeline, body.cron,
                                                         name=body.name, params=body.params)
    return ScheduleOut.model_validate(created.to_dict())


@router.delete("/schedules/{name}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
def delete_schedule(name: str, client: ClientDep) -> Response:
    client.pipelines.scheduler.delete_schedule(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/triggers", response_model=list[TriggerOut])
def list_triggers(client: ClientDep, limit: int = Query(50, ge=1, le=1000)
                  ) -> list[TriggerOut]:
    return [TriggerOut.model_validate(t.to_dict())
            for t in client.pipelines.scheduler.list_triggers(limit)]


@router.post("/triggers", response_model=TriggerOut, status_code=201)
def create_trigger(body: TriggerCreate, client: ClientDep) -> TriggerOut:
    queued = client.pipelines.scheduler.trigger(body.pipeline, body.params, reason=body.reason)
    return TriggerOut.model_validate(queued.to_dict())
