"""Logged models: a model a run logged (its files in the artifact store), before or
without registration. MLflow 3's ``log_model`` creates one, uploads its files into it,
then registers a version from it (``models:/m-...``).

``SqlLoggedModelStore`` keeps them in ``logged_models`` and ``logged_model_files``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.core.ids import new_id
from modelplane.core.timeutil import as_utc, utcnow
from modelplane.store.db import Database
from modelplane.store.tables_logged_models import logged_model_files, logged_models

__all__ = ["LOGGED_MODEL_STATUSES", "LoggedModel", "LoggedModelFile", "SqlLoggedModelStore"]

LOGGED_MODEL_STATUSES = ("pending", "ready", "failed")


@dataclass(frozen=True, slots=True)
class LoggedModel:
    id: str
    experiment_id: str
    run_id: str | None
    step: int
    name: str
    status: str
    model_type: str
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoggedModelFile:
    path: str
    digest: str
    size: int


def _model(row: RowMapping) -> LoggedModel:
    return LoggedModel(id=row["id"], experiment_id=row["experiment_id"], run_id=row["run_id"],
                       step=row["step"], name=row["name"], status=row["status"],
                       model_type=row["model_type"], created_at=as_utc(row["created_at"]),
                       updated_at=as_utc(row["updated_at"]), tags=dict(row["tags"] or {}),
                       params=dict(row["params"] or {}))


def new_model_id() -> str:
    """``m-`` and 32 hex characters, as MLflow's logged model ids."""
    return "m-" + new_id()


class SqlLoggedModelStore:
    """Logged models on the metadata database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, experiment_id: str, name: str, *, run_id: str | None = None,
               model_type: str = "", tags: Mapping[str, str] | None = None,
               params: Mapping[str, str] | None = None) -> LoggedModel:
        now = utcnow()
        model = LoggedModel(id=new_model_id(), experiment_id=experiment_id, run_id=run_id,
                            step=0, name=name, status="pending", model_type=model_type,
                            created_at=now, updated_at=now, tags=dict(tags or {}),
                            params=dict(params or {}))
        with self.db.session_scope() as session:
            session.execute(insert(logged_models).values(
                id=model.id, experiment_id=experiment_id, run_id=run_id, step=0, name=name,
                status=model.status, model_type=model_type, tags=model.tags,
                params=model.params, created_at=now, updated_at=now))
        return model

    def get(self, model_id: str) -> LoggedModel:
        with self.db.session_scope(readonly=True) as session:
            row = session.execute(select(logged_models).where(
                logged_models.c.id == model_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"logged model {model_id!r} not found",
                                details={"model_id": model_id})
        return _model(row)

    def update(self, model_id: str, *, status: str | None = None,
               set_tags: Mapping[str, str] | None = None, delete_tag: str | None = None,
               params: Mapping[str, str] | None = None, run_id: str | None = None,
               step: int | None = None) -> LoggedModel:
        """Change the status, tags, params or the run it was output by, in one transaction
        (the row is read and written under the write lock)."""
        if status is not None and status not in LOGGED_MODEL_STATUSES:
            raise InvalidArgumentError(f"status: expected one of {LOGGED_MODEL_STATUSES}",
                                       details={"field": "status"})
        with self.db.session_scope() as session:
            row = session.execute(select(logged_models).where(
                logged_models.c.id == model_id).with_for_update()).mappings().first()
            if row is None:
                raise NotFoundError(f"logged model {model_id!r} not found",
                                    details={"model_id": model_id})
            tags = {**(row["tags"] or {}), **(set_tags or {})}
            if delete_tag is not None:
                if delete_tag not in tags:
                    raise NotFoundError(f"logged model {model_id!r} has no tag {delete_tag!r}",
                                        details={"model_id": model_id, "key": delete_tag})
                del tags[delete_tag]
            changes: dict[str, Any] = {"tags": tags, "updated_at": utcnow(),
                                       "params": {**(row["params"] or {}), **(params or {})}}
            if status is not None:
                changes["status"] = status
            if run_id is not None:
                changes["run_id"] = run_id
                changes["step"] = step or 0
            session.execute(update(logged_models).where(logged_models.c.id == model_id)
                            .values(**changes))
            return _model({**row, **changes})  # type: ignore[arg-type]

    def delete(self, model_id: str) -> None:
        with self.db.session_scope() as session:
            result = session.execute(delete(logged_models).where(logged_models.c.id == model_id))
            if getattr(result, "rowcount", None) == 0:
                raise NotFoundError(f"logged model {model_id!r} not found",
                                    details={"model_id": model_id})

    def search(self, experiment_ids: Sequence[str] | None = None, *, run_id: str | None = None,
               limit: int = 1000, offset: int = 0) -> list[LoggedModel]:
        """Newest first, within ``experiment_ids`` and/or output by ``run_id``."""
        query = select(logged_models).order_by(logged_models.c.created_at.desc(),
                                                logged_models.c.id)
        if experiment_ids is not None:
            query = query.where(logged_models.c.experiment_id.in_(list(experiment_ids)))
        if run_id is not None:
            query = query.where(logged_models.c.run_id == run_id)
        with self.db.session_scope(readonly=True) as session:
            rows = session.execute(query.limit(limit).offset(offset)).mappings().all()
        return [_model(row) for row in rows]

    def add_file(self, model_id: str, path: str, digest: str, size: int) -> None:
        """Record (or replace) the file ``path`` of the model."""
        self.get(model_id)
        with self.db.session_scope() as session:
            session.execute(delete(logged_model_files).where(
                logged_model_files.c.model_id == model_id, logged_model_files.c.path == path))
            session.execute(insert(logged_model_files).values(
                model_id=model_id, path=path, digest=digest, size=size, created_at=utcnow()))

    def files(self, model_id: str) -> list[LoggedModelFile]:
        query = (select(logged_model_files.c.path, logged_model_files.c.digest,
                        logged_model_files.c.size)
                 .where(logged_model_files.c.model_id == model_id)
                 .order_by(logged_model_files.c.path))
        with self.db.session_scope(readonly=True) as session:
            return [LoggedModelFile(p, d, s) for p, d, s in session.execute(query)]


