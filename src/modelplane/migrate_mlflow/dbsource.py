"""An MLflow history read from its database (SQLite, PostgreSQL, MySQL) and artifact root.

The tables are those of MLflow's SQLAlchemy store (``experiments``, ``runs``,
``metrics``, ``registered_models``...), reflected at open, read in the shapes MLflow's
REST API returns; files come from ``--artifact-root`` (or the paths the database holds).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import MetaData, create_engine, select

from modelplane.core.errors import InvalidArgumentError
from modelplane.migrate_mlflow.source import LocalArtifacts

__all__ = ["DatabaseSource"]

Json = dict[str, Any]
_STATUS = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}


def _pairs(rows: Any) -> list[Json]:
    return [{"key": r.key, "value": r.value} for r in rows]


class DatabaseSource(LocalArtifacts):
    def __init__(self, url: str, artifact_root: str | None) -> None:
        super().__init__(artifact_root)
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        self.engine = create_engine(url)
        self.meta = MetaData()
        self.meta.reflect(self.engine)
        if "runs" not in self.meta.tables or "experiments" not in self.meta.tables:
            raise InvalidArgumentError(f"{url} is not an MLflow tracking database (no "
                                       "experiments or runs table)", details={"field": "from"})
        self.t = self.meta.tables

    def _rows(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def experiments(self) -> list[Json]:
        e, tags = self.t["experiments"], self.t["experiment_tags"]
        out = []
        for row in self._rows(select(e).order_by(e.c.experiment_id)):
            out.append({"experiment_id": str(row.experiment_id), "name": row.name,
                        "lifecycle_stage": row.lifecycle_stage,
                        "artifact_location": row.artifact_location,
                        "creation_time": row.creation_time,
                        "tags": _pairs(self._rows(select(tags).where(
                            tags.c.experiment_id == row.experiment_id)))})
        return out

    def runs(self, experiment_id: str) -> Iterator[Json]:
        r = self.t["runs"]
        for row in self._rows(select(r).where(r.c.experiment_id == int(experiment_id))
                              .order_by(r.c.start_time)):
            yield self._run(row)

    def _run(self, row: Any) -> Json:
        params, tags, latest = self.t["params"], self.t["tags"], self.t["latest_metrics"]
        rid = row.run_uuid
        metrics = [{"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}
                   for m in self._rows(select(latest).where(latest.c.run_uuid == rid))]
        info = {"run_id": rid, "run_name": row.name, "experiment_id": str(row.experiment_id),
                "user_id": row.user_id or "", "status": row.status if row.status in _STATUS
                else "FINISHED", "start_time": row.start_time, "end_time": row.end_time,
                "artifact_uri": row.artifact_uri, "lifecycle_stage": row.lifecycle_stage}
        data = {"metrics": metrics,
                "params": _pairs(self._rows(select(params).where(params.c.run_uuid == rid))),
                "tags": _pairs(self._rows(select(tags).where(tags.c.run_uuid == rid)))}
        return {"info": info, "data": data, "inputs": {"dataset_inputs": self._inputs(rid)}}

    def _inputs(self, run_id: str) -> list[Json]:
        if "inputs" not in self.t or "datasets" not in self.t:
            return []
        i, d, it = self.t["inputs"], self.t["datasets"], self.t["input_tags"]
        query = (select(i.c.input_uuid, d).join(d, d.c.dataset_uuid == i.c.source_id)
                 .where(i.c.destination_id == run_id, i.c.source_type == "DATASET"))
        found = []
        for row in self._rows(query):
            tags = [{"key": t.name, "value": t.value}  # MLflow names the column "name"
                    for t in self._rows(select(it).where(it.c.input_uuid == row.input_uuid))]
            found.append({"tags": tags, "dataset": {
                "name": row.name, "digest": row.digest, "source_type": row.dataset_source_type,
                "source": row.dataset_source, "schema": row.dataset_schema or "",
                "profile": row.dataset_profile or ""}})
        return found

    def metric_history(self, run_id: str, key: str) -> list[Json]:
        m = self.t["metrics"]
        query = (select(m).where(m.c.run_uuid == run_id, m.c.key == key)
                 .order_by(m.c.step, m.c.timestamp))
        return [{"key": r.key, "value": float("nan") if r.is_nan else r.value,
                 "timestamp": r.timestamp, "step": r.step} for r in self._rows(query)]

    def registered_models(self) -> list[Json]:
        rm, tags = self.t["registered_models"], self.t["registered_model_tags"]
        aliases = self.t.get("registered_model_aliases")
        out = []
        for row in self._rows(select(rm).order_by(rm.c.name)):
            found = [] if aliases is None else [
                {"alias": a.alias, "version": str(a.version)}
                for a in self._rows(select(aliases).where(aliases.c.name == row.name))]
            out.append({"name": row.name, "description": row.description or "",
                        "tags": _pairs(self._rows(select(tags).where(tags.c.name == row.name))),
                        "aliases": found})
        return out

    def versions(self, name: str) -> list[Json]:
        mv, tags = self.t["model_versions"], self.t["model_version_tags"]
        out = []
        for row in self._rows(select(mv).where(mv.c.name == name).order_by(mv.c.version)):
            if row.current_stage == "Deleted_Internal":
                continue
            vtags = self._rows(select(tags).where(tags.c.name == name,
                                                  tags.c.version == row.version))
            out.append({"name": name, "version": str(row.version),
                        "current_stage": row.current_stage, "description": row.description or "",
                        "source": row.source, "run_id": row.run_id or "",
                        "storage_location": row.storage_location or row.source,
                        "tags": _pairs(vtags)})
        return out
