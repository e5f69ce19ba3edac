from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["BackendHealthOut", "HealthOut"]


class BackendHealthOut(BaseModel):
    """One backend as this server sees it: its circuit (``closed`` normal, ``open``
    failing fast, ``half_open`` trying one call) and the calls waiting on it."""

    backend: str
    state: str
    consecutive_failures: int = 0
    in_flight: int = 0
    oldest_call_seconds: float = 0.0
    rejected: int = 0
    last_error: str | None = None


class HealthOut(BaseModel):
    status: str = Field(description="ok, degraded (a backend other than the metadata "
                        "database is failing) or unavailable (503)")
    version: str
    database: str
    backends: dict[str, BackendHealthOut] = Field(default_factory=dict)
