"""``/api/v1/features``: online reads, pushes, and the feature definitions.

Handlers parse, call :class:`~modelplane.features.service.FeatureStore`, and return a
schema; an unknown view or feature is a 404 that lists the close names, bad entity
columns a 422 naming the column.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modelplane.server.deps import FeatureStoreDep, VersionQuery
from modelplane.server.schemas.features import (
    EntityOut,
    FeatureServiceOut,
    FeatureViewDetailOut,
    FeatureViewOut,
    OnlineFeaturesOut,
    OnlineFeaturesRequest,
    PushOut,
    PushRequest,
)

router = APIRouter(prefix="/features", tags=["features"])

Version = VersionQuery


def _view_out(view: Any) -> dict[str, Any]:
    spec = view.spec()
    entities = spec.get("entities", [])
    return {
        "kind": view.kind, "name": view.name, "version": view.version,
        "schema_hash": view.schema_hash, "entities": [e["name"] for e in entities],
        "join_keys": [k for e in entities for k in e["join_keys"]],
        "features": spec["schema"], "ttl_seconds": spec.get("ttl_seconds"),
        "online": spec.get("online", False), "source": spec.get("source"),
        "inputs": spec.get("inputs", []), "description": spec["description"],
        "tags": spec["tags"], "owner": spec["owner"],
    }


@router.post("/online", response_model=OnlineFeaturesOut)
def get_online_features(store: FeatureStoreDep, body: OnlineFeaturesRequest) -> Any:
    """Latest values of ``features`` (or a ``service``'s) for the given entities, each with
    a status (present, missing, expired) and its event time."""
    result = store.get_online_features(body.features, body.entities, service=body.service,
                                       full_feature_names=body.full_feature_names)
    return result.to_json()


@router.post("/views/{name}/push", response_model=PushOut)
def push(store: FeatureStoreDep, name: str, body: PushRequest) -> PushOut:
    """Write fresh rows online and to the view's offline log (``bytes`` features as base64
    text, times as ISO-8601 text)."""
    return PushOut(view=name, rows=store.push_json(name, body.columns))


@router.get("/views", response_model=list[FeatureViewOut])
def list_views(store: FeatureStoreDep) -> list[dict[str, Any]]:
    return [_view_out(v) for v in store.list_feature_views()]


@router.get("/views/{name}", response_model=FeatureViewDetailOut)
def get_view(store: FeatureStoreDep, name: str, version: Version = None) -> dict[str, Any]:
    view = store.registry.get_view(name, version)
    detail = store.describe_view(name, version)
    return {**_view_out(view), "versions": detail["versions"],
            "watermark": detail.get("watermark"),
            "materializations": detail.get("materializations", [])}


@router.get("/services", response_model=list[FeatureServiceOut])
def list_services(store: FeatureStoreDep) -> list[dict[str, Any]]:
    return [{**s.spec(), "version": s.version} for s in store.list_feature_services()]


@router.get("/services/{name}", response_model=FeatureServiceOut)
def get_service(store: FeatureStoreDep, name: str, version: Version = None) -> dict[str, Any]:
    service = store.get_feature_service(name, version)
    return {**service.spec(), "version": service.version,
            "versions": store.registry.versions(name, service=True)}


@router.get("/entities", response_model=list[EntityOut])
def list_entities(store: FeatureStoreDep) -> list[dict[str, Any]]:
    return [e.spec() for e in store.list_entities()]


@router.get("/entities/{name}", response_model=EntityOut)
def get_entity(store: FeatureStoreDep, name: str) -> dict[str, Any]:
    return store.registry.get_entity(name).spec()  # type: ignore[no-any-return]
