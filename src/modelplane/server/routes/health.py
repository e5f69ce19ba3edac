"""``/api/v1/health``: liveness, a check that the metadata database answers, and the
circuit state of each backend (the database, the online store) so an operator sees which
one is failing. The database check goes through its breaker and timeouts, so a hung
database makes this a quick 503, never a stalled request; the online store is reported
from its breaker, without a call that could wait on it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from modelplane.__about__ import __version__
from modelplane.core.errors import StorageUnavailableError
from modelplane.server.deps import ClientDep
from modelplane.server.schemas.health import BackendHealthOut, HealthOut

router = APIRouter(tags=["health"])


def _backends(client: Any) -> dict[str, BackendHealthOut]:
    db = client.database
    out = {"database": BackendHealthOut(**(db.breaker.snapshot() if db.breaker else {
        "backend": "the metadata database", "state": "closed"}))}
    breaker = getattr(client.features.online, "breaker", None)
    if breaker is not None:
        out["online_store"] = BackendHealthOut(**breaker.snapshot())
    return out


@router.get("/health", response_model=HealthOut,
            responses={503: {"model": HealthOut, "description": "the database is down"}})
def health(client: ClientDep) -> Any:
    db = client.database
    try:
        with db.session_scope(readonly=True) as session:
            session.execute(text("SELECT 1"))
    except StorageUnavailableError:
        out = HealthOut(status="unavailable", version=__version__, database=db.dialect,
                        backends=_backends(client))
        return JSONResponse(out.model_dump(), status_code=503)
    backends = _backends(client)
    failing = any(b.state != "closed" for b in backends.values())
    return HealthOut(status="degraded" if failing else "ok", version=__version__,
                     database=db.dialect, backends=backends)
