from __future__ import annotations

from pydantic import BaseModel

__all__ = ["HealthOut"]


class HealthOut(BaseModel):
    status: str
    version: str
    database: str
