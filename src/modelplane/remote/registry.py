"""``RemoteRegistryStore``: the registry store protocol over ``/api/v1`` of a server.

:class:`~modelplane.registry.service.RegistryService` runs on it unchanged. The server
runs the same service on its database, so it also holds what the client cannot: version
numbering, exclusive stages, the audit log, evaluation gates before a stage move, and the
clean-up of a deleted version's artifacts (a delete here returns an empty
:class:`~modelplane.registry.entities.Deletion`: nothing is left for the client to remove).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from modelplane.core.filters import Expr, Field, format_filter
from modelplane.registry.checks import MAX_RESULTS_LIMIT, encode_page_token
from modelplane.registry.entities import (
    ALLOW_PICKLE_TAG,
    AuditEntry,
    Deletion,
    ModelVersion,
    RegisteredModel,
)
from modelplane.registry.store import VersionSpec
from modelplane.remote.http import RemoteTransport, segment

__all__ = ["RemoteRegistryStore"]

#: ``history(limit=None)`` asks for this many entries (the route's maximum).
HISTORY_ALL = 100_000


def _model(data: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel(id=data["id"], name=data["name"], description=data["description"],
                           created_at=datetime.fromisoformat(data["created_at"]),
                           updated_at=datetime.fromisoformat(data["updated_at"]),
                           latest_version=data["latest_version"], tags=data["tags"],
                           aliases=data["aliases"])


def _version(data: dict[str, Any]) -> ModelVersion:
    fields = {k: v for k, v in data.items() if k not in ("uri", "pickled")}
    for key in ("created_at", "updated_at"):
        fields[key] = datetime.fromisoformat(fields[key])
    fields["aliases"] = tuple(fields["aliases"])
    return ModelVersion(**fields)


def _entry(data: dict[str, Any]) -> AuditEntry:
    return AuditEntry(**{**data, "at": datetime.fromisoformat(data["at"])})


class RemoteRegistryStore:
    """Registered models and versions, kept by the server at ``transport``."""

    def __init__(self, transport: RemoteTransport) -> None:
        self.http = transport

    # -- models ------------------------------------------------------------------------
    def create_model(self, name: str, *, description: str = "",
                     tags: Mapping[str, str] | None = None) -> RegisteredModel:
        return _model(self.http.post("/models", {"name": name, "description": description,
                                                 "tags": dict(tags or {})}))

    def get_model(self, name: str) -> RegisteredModel:
        return _model(self.http.get(f"/models/{segment(name)}"))

    def search_models(self, where: Expr | None, *, limit: int,
                      offset: int = 0) -> list[RegisteredModel]:
        return [_model(m) for m in _pages(
            lambda n, token: self.http.get("/models", filter=format_filter(where),
                                           max_results=n, page_token=token)["models"],
            limit, offset)]

    def update_model(self, name: str, *, description: str | None = None,
                     set_tags: Mapping[str, str] | None = None,
                     delete_tags: Sequence[str] = ()) -> RegisteredModel:
        return _model(self._update(f"/models/{segment(name)}", description, set_tags,
                                   delete_tags))

    def _update(self, path: str, description: str | None,
                set_tags: Mapping[str, str] | None, delete_tags: Sequence[str]) -> Any:
        """A model's or a version's description and tags; its state after the changes."""
        data = None
        if description is not None:
            data = self.http.patch(path, {"description": description})
        for key, value in (set_tags or {}).items():
            if key == ALLOW_PICKLE_TAG:  # the admin's setting has its own route
                data = self.http.put(f"{path}/allow-pickle", {"allowed": value == "true"})
                continue
            data = self.http.put(f"{path}/tags/{segment(key)}", {"value": value})
        for key in delete_tags:
            if key == ALLOW_PICKLE_TAG:
                data = self.http.put(f"{path}/allow-pickle", {"allowed": False})
                continue
            data = self.http.delete(f"{path}/tags/{segment(key)}")
        return data if data is not None else self.http.get(path)

    def delete_model(self, name: str, *, actor: str = "") -> Deletion:
        self.http.delete(f"/models/{segment(name)}", actor=actor or None)
        return Deletion()

    # -- versions ----------------------------------------------------------------------
    def create_version(self, name: str, spec: VersionSpec) -> ModelVersion:
        return _version(self.http.post(f"/models/{segment(name)}/versions", asdict(spec)))

    def get_version(self, name: str, *, version: int | None = None, alias: str | None = None,
                    stage: str | None = None) -> ModelVersion:
        if version is not None:
            return _version(self.http.get(f"/models/{segment(name)}/versions/{version}"))
        if alias is not None:
            return _version(self.http.get(f"/models/{segment(name)}/aliases/{segment(alias)}"))
        return _version(self.http.get("/models/resolve", uri=f"models:/{name}@{stage}"))

    def search_versions(self, where: Expr | None, order_by: Sequence[tuple[Field, bool]], *,
                        limit: int, offset: int = 0) -> list[ModelVersion]:
        order = ", ".join(f"{f} {'desc' if d else 'asc'}" for f, d in order_by) or None
        return [_version(v) for v in _pages(
            lambda n, token: self.http.get("/model-versions/search", filter=format_filter(where),
                                           order_by=order, max_results=n,
                                           page_token=token)["versions"],
            limit, offset)]

    def update_version(self, name: str, version: int, *, description: str | None = None,
                       set_tags: Mapping[str, str] | None = None,
                       delete_tags: Sequence[str] = ()) -> ModelVersion:
        return _version(self._update(f"/models/{segment(name)}/versions/{version}",
                                     description, set_tags, delete_tags))

    def delete_version(self, name: str, version: int, *, force: bool = False,
                       actor: str = "") -> Deletion:
        self.http.delete(f"/models/{segment(name)}/versions/{version}", force=force or None,
                         actor=actor or None)
        return Deletion()

    # -- stages, aliases, history ------------------------------------------------------
    def set_stage(self, name: str, version: int, stage: str, *, actor: str = "",
                  reason: str = "") -> ModelVersion:
        return _version(self.http.post(f"/models/{segment(name)}/versions/{version}/stage",
                                       {"stage": stage, "actor": actor, "reason": reason}))

    def rollback(self, name: str, stage: str, *, actor: str = "",
                 reason: str = "") -> ModelVersion:
        return _version(self.http.post(f"/models/{segment(name)}/rollback",
                                       {"stage": stage, "actor": actor, "reason": reason}))

    def set_alias(self, name: str, alias: str, version: int | None, *,
                  actor: str = "") -> None:
        path = f"/models/{segment(name)}/aliases/{segment(alias)}"
        if version is None:
            self.http.delete(path, actor=actor or None)
        else:
            self.http.put(path, {"version": version, "actor": actor})

    def history(self, name: str, *, version: int | None = None,
                limit: int | None = None) -> list[AuditEntry]:
        data = self.http.get(f"/models/{segment(name)}/history", version=version,
                             limit=HISTORY_ALL if limit is None else min(limit, HISTORY_ALL))
        return [_entry(e) for e in data["entries"]]

    def __repr__(self) -> str:
        return f"<RemoteRegistryStore {self.http.server_url}>"


def _pages(fetch: Callable[[int, str | None], list[dict[str, Any]]], limit: int,
           offset: int) -> list[dict[str, Any]]:
    """Up to ``limit`` rows from ``offset``, in server pages of at most 1,000 rows."""
    rows: list[dict[str, Any]] = []
    while len(rows) < limit:
        want = min(limit - len(rows), MAX_RESULTS_LIMIT)
        at = offset + len(rows)
        page = fetch(want, encode_page_token(at) if at else None)
        rows.extend(page)
        if len(page) < want:
            break
    return rows
