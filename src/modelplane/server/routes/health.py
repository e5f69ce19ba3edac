"""``/api/v1/health``: liveness plus a check that the metadata database answers."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from modelplane.__about__ import __version__
from modelplane.server.deps import DatabaseDep
from modelplane.server.schemas.health import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
def health(db: DatabaseDep) -> HealthOut:
    with db.session_scope(readonly=True) as session:
        session.execute(text("SELECT 1"))
    return HealthOut(status="ok", version=__version__, database=db.dialect)
