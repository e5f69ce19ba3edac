"""API schemas of the feature store (``/api/v1/features``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EntityOut",
    "FeatureServiceOut",
    "FeatureViewDetailOut",
    "FeatureViewOut",
    "OnlineFeatureOut",
    "OnlineFeaturesOut",
    "OnlineFeaturesRequest",
    "PushOut",
    "PushRequest",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OnlineFeaturesRequest(_In):
    """``features`` (``view:feature`` references) or ``service``; ``entities`` maps each
    join key (and request field) to one value per entity."""

    features: list[str] | None = None
    service: str | None = None
    entities: dict[str, list[Any]] = Field(min_length=1)
    full_feature_names: bool = False


class OnlineFeatureOut(BaseModel):
    """``values`` in JSON: lists as arrays, ``bytes`` as base64 text, times ISO-8601,
    NaN and infinities as null."""

    values: list[Any]
    statuses: list[str]
    event_timestamps: list[datetime | None]


class OnlineFeaturesOut(BaseModel):
    entities: dict[str, list[Any]]
    features: dict[str, OnlineFeatureOut]


class PushRequest(_In):
    """Rows as columns: each of the view's join keys, its timestamp field (ISO-8601) and
    features (``bytes`` as base64 text, lists as arrays)."""

    columns: dict[str, list[Any]] = Field(min_length=1)


class PushOut(BaseModel):
    view: str
    rows: int


class FeatureOut(BaseModel):
    name: str
    dtype: str
    description: str = ""


class EntityOut(BaseModel):
    name: str
    join_keys: list[str]
    dtypes: dict[str, str]
    description: str
    tags: dict[str, str]
    owner: str


class FeatureViewOut(BaseModel):
    kind: str
    name: str
    version: int | None
    schema_hash: str
    entities: list[str]
    join_keys: list[str]
    features: list[FeatureOut]
    ttl_seconds: float | None = None
    online: bool = False
    source: dict[str, Any] | None = None
    inputs: list[str] = Field(default_factory=list)
    description: str
    tags: dict[str, str]
    owner: str


class FeatureViewDetailOut(FeatureViewOut):
    versions: list[dict[str, Any]]
    watermark: datetime | None = None
    materializations: list[dict[str, Any]] = Field(default_factory=list)


class FeatureServiceOut(BaseModel):
    name: str
    version: int | None
    features: list[str]
    description: str
    tags: dict[str, str]
    owner: str
    versions: list[dict[str, Any]] = Field(default_factory=list)
