"""``RemoteTrackingStore``: the tracking store protocol over ``/api/v1`` of a server.

:class:`~modelplane.tracking.service.TrackingService` runs on it unchanged, so the
client validates what it can before a request is made, and the server (running the same
service) validates again, keeps the invariants (params immutable: 409) and assigns ids.
Buffered metrics leave as one ``log-batch`` request per flush; a filter travels as text
(the parsed filter, formatted back) and the server parses it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from modelplane.core.errors import NotFoundError
from modelplane.core.filters import ATTRIBUTES, And, Comparison, Expr, Field, format_filter
from modelplane.remote.http import RemoteTransport, segment
from modelplane.tracking.entities import DatasetRecord, Experiment, Metric, Run, RunArtifact
from modelplane.tracking.history import MetricSeries
from modelplane.tracking.paging import Cursor, decode_token, encode_token

__all__ = ["RemoteTrackingStore"]

#: Points per ``log-batch`` request: well under the server's request-body limit.
BATCH_POINTS = 10_000
#: The most runs the server returns per search request.
SEARCH_PAGE = 50_000


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _experiment(data: dict[str, Any]) -> Experiment:
    return Experiment(id=data["id"], name=data["name"], description=data["description"],
                      tags=data["tags"], lifecycle=data["lifecycle"],
                      created_at=datetime.fromisoformat(data["created_at"]),
                      updated_at=datetime.fromisoformat(data["updated_at"]))


def _run(data: dict[str, Any]) -> Run:
    metrics = {k: float("nan") if v is None else v for k, v in data["metrics"].items()}
    return Run(id=data["id"], experiment_id=data["experiment_id"], name=data["name"],
               status=data["status"], lifecycle=data["lifecycle"],
               start_time=datetime.fromisoformat(data["start_time"]),
               end_time=_time(data["end_time"]), parent_run_id=data["parent_run_id"],
               user=data["user"], host=data["host"], pid=data["pid"], source=data["source"],
               code_commit=data["code_commit"], code_dirty=data["code_dirty"],
               params=data["params"], metrics=metrics, tags=data["tags"])


def _artifact(data: dict[str, Any]) -> RunArtifact:
    return RunArtifact(path=data["path"], digest=data["digest"], is_dir=data["is_dir"],
                       size=data["size"], created_at=datetime.fromisoformat(data["created_at"]))


def _dataset(data: dict[str, Any]) -> DatasetRecord:
    return DatasetRecord(digest=data["digest"], name=data["name"], source=data["source"],
                         num_rows=data["num_rows"], num_columns=data["num_columns"],
                         schema=data["schema"], profile=data.get("profile", {}),
                         created_at=datetime.fromisoformat(data["created_at"]),
                         role=data.get("role"))


def _order_text(order_by: Sequence[tuple[Field, bool]]) -> str:
    return ", ".join(f"{field} {'desc' if descending else 'asc'}"
                     for field, descending in order_by)


class RemoteTrackingStore:
    """Experiments, runs and what runs log, kept by the server at ``transport``."""

    def __init__(self, transport: RemoteTransport) -> None:
        self.http = transport

    # -- experiments -------------------------------------------------------------------
    def create_experiment(self, name: str, description: str, tags: dict[str, str]) -> Experiment:
        return _experiment(self.http.post("/experiments", {
            "name": name, "description": description, "tags": tags}))

    def get_experiment(self, id_or_name: str) -> Experiment:
        return _experiment(self.http.get(f"/experiments/{segment(id_or_name)}"))

    def list_experiments(self, *, include_deleted: bool = False) -> list[Experiment]:
        return [_experiment(e) for e in self.http.get("/experiments",
                                                      include_deleted=include_deleted)]

    def update_experiment(self, experiment_id: str, **changes: Any) -> Experiment:
        path = f"/experiments/{segment(experiment_id)}"
        lifecycle = changes.pop("lifecycle", None)
        data = self.http.patch(path, changes) if changes else None
        if lifecycle == "deleted":
            data = self.http.delete(path)
        elif lifecycle == "active":
            data = self.http.post(f"{path}/restore")
        return _experiment(data if data is not None else self.http.get(path))

    # -- runs --------------------------------------------------------------------------
    def create_run(self, run: Run) -> Run:
        """The server assigns the id (``run.id`` is not sent) and the start time."""
        return _run(self.http.post("/runs", {
            "experiment": run.experiment_id, "name": run.name, "params": run.params,
            "tags": run.tags, "parent_run_id": run.parent_run_id, "source": run.source,
            "user": run.user, "host": run.host, "pid": run.pid,
            "code_commit": run.code_commit, "code_dirty": run.code_dirty}))

    def get_run(self, run_id: str) -> Run:
        return _run(self.http.get(f"/runs/{segment(run_id)}"))

    def update_run(self, run_id: str, **changes: Any) -> Run:
        """``status`` and ``name`` as one PATCH (the server sets ``end_time``);
        ``lifecycle`` by delete or restore."""
        path = f"/runs/{segment(run_id)}"
        body = {k: changes[k] for k in ("status", "name") if k in changes}
        data = self.http.patch(path, body) if body else None
        lifecycle = changes.get("lifecycle")
        if lifecycle == "deleted":
            data = self.http.delete(path)
        elif lifecycle == "active":
            data = self.http.post(f"{path}/restore")
        return _run(data if data is not None else self.http.get(path))

    def delete_run_tag(self, run_id: str, key: str) -> None:
        self.http.delete(f"/runs/{segment(run_id)}/tags/{segment(key)}")

    # -- logging -----------------------------------------------------------------------
    def log_batch(self, run_id: str, metric_rows: Sequence[tuple[str, str, float, int, int]],
                  params: dict[str, str], tags: dict[str, str]) -> None:
        """One request: all of it or nothing (a param conflict is the server's 409)."""
        self.http.request("POST", f"/runs/{segment(run_id)}/log-batch", json_body={
            "metrics": _metric_bodies(metric_rows), "params": params, "tags": tags})

    def log_metric_rows(self, rows: list[tuple[str, str, float, int, int]]) -> None:
        """Buffered points, one ``log-batch`` request per run (and per 10,000 points)."""
        by_run: dict[str, list[tuple[str, str, float, int, int]]] = {}
        for row in rows:
            by_run.setdefault(row[0], []).append(row)
        for run_id, points in by_run.items():
            for start in range(0, len(points), BATCH_POINTS):
                self.log_batch(run_id, points[start:start + BATCH_POINTS], {}, {})

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        try:
            points = self.http.get(f"/runs/{segment(run_id)}/metrics/{segment(key)}/history")
        except NotFoundError as exc:
            if "available" in exc.details:  # the run exists; it has no such metric
                return []
            raise
        return [Metric(p["key"], float("nan") if p["value"] is None else p["value"],
                       p["step"], datetime.fromisoformat(p["timestamp"])) for p in points]

    def metric_series(self, run_id: str, key: str, max_points: int) -> MetricSeries:
        got = self.http.get(f"/runs/{segment(run_id)}/metrics/{segment(key)}/series",
                            max_points=max_points)
        nan = float("nan")
        return MetricSeries(got["key"], got["count"], got["bucketed"],
                            [(int(s), nan if lo is None else lo, nan if hi is None else hi)
                             for s, lo, hi in got["points"]])

    def metric_series_many(self, run_ids: list[str], key: str,
                           max_points: int) -> dict[str, MetricSeries]:
        out = {}
        for run_id in run_ids:
            try:
                out[run_id] = self.metric_series(run_id, key, max_points)
            except NotFoundError:
                continue
        return {run_id: s for run_id, s in out.items() if s.count}

    def metric_page(self, run_id: str, key: str, from_step: int,
                    limit: int) -> list[tuple[int, float, int]]:
        points = self.http.get(f"/runs/{segment(run_id)}/metrics/{segment(key)}/history",
                               from_step=from_step, limit=limit)
        return [(p["step"], float("nan") if p["value"] is None else p["value"],
                 int(datetime.fromisoformat(p["timestamp"]).timestamp() * 1000))
                for p in points]

    # -- search ------------------------------------------------------------------------
    def search_runs(self, experiment_ids: Sequence[str] | None, where: Expr | None,
                    order_by: Sequence[tuple[Field, bool]], limit: int, offset: int,
                    include_deleted: bool = False) -> list[Run]:
        body: dict[str, Any] = {"filter": format_filter(where),
                                "experiments": None if experiment_ids is None
                                else list(experiment_ids),
                                "order_by": _order_text(order_by),
                                "include_deleted": include_deleted}
        found: list[Run] = []
        while len(found) < limit:
            want = min(limit - len(found), SEARCH_PAGE)
            token = _offset_token(offset + len(found)) if offset + len(found) else None
            page = self.http.post("/runs/search", {**body, "max_results": want,
                                                   "page_token": token})
            found.extend(_run(r) for r in page["runs"])
            if page["next_page_token"] is None or not page["runs"]:
                break
        return found

    def search_page(self, experiment_ids: Sequence[str] | None, where: Expr | None,
                    order_by: Sequence[tuple[Field, bool]], limit: int, cursor: Cursor,
                    include_deleted: bool = False) -> tuple[list[Run], Cursor | None]:
        """One page through the server, its page token passed along unchanged."""
        page = self.http.post("/runs/search", {
            "filter": format_filter(where),
            "experiments": None if experiment_ids is None else list(experiment_ids),
            "order_by": _order_text(order_by), "include_deleted": include_deleted,
            "max_results": limit,
            "page_token": None if cursor == Cursor() else encode_token(cursor)})
        token = page["next_page_token"]
        return [_run(r) for r in page["runs"]], None if token is None else decode_token(token)

    def heartbeat(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            self.http.post(f"/runs/{segment(run_id)}/heartbeat", {})

    def fail_stale_heartbeats(self, stale_seconds: float) -> list[str]:
        return []  # the server sweeps its own database

    def running_runs(self, older_than: datetime | None = None) -> list[Run]:
        where: Expr = Comparison(Field(ATTRIBUTES, "status"), "=", "running")
        if older_than is not None:
            where = And((where, Comparison(Field(ATTRIBUTES, "start_time"), "<", older_than)))
        return self.search_runs(None, where, [], SEARCH_PAGE, 0)

    # -- artifacts and datasets --------------------------------------------------------
    def add_artifact(self, run_id: str, artifact: RunArtifact) -> None:
        """Record blobs already uploaded (the server checks they are there)."""
        self.http.post(f"/runs/{segment(run_id)}/artifacts", {
            "path": artifact.path, "digest": artifact.digest, "is_dir": artifact.is_dir})

    def list_artifacts(self, run_id: str) -> list[RunArtifact]:
        return [_artifact(a) for a in self.http.get(f"/runs/{segment(run_id)}/artifacts")]

    def artifact_digests(self) -> list[tuple[str, bool]]:
        from modelplane.remote.unavailable import not_available

        raise not_available("listing every run artifact's digest")

    def link_dataset(self, run_id: str, record: DatasetRecord, role: str) -> DatasetRecord:
        body = asdict(record)
        body.update(role=role, profile=record.profile or {})
        del body["created_at"]  # the server's time
        return _dataset(self.http.post(f"/runs/{segment(run_id)}/datasets", body))

    def run_datasets(self, run_id: str) -> list[DatasetRecord]:
        return [_dataset(d) for d in self.http.get(f"/runs/{segment(run_id)}/datasets")]

    def get_dataset(self, digest: str) -> DatasetRecord:
        return _dataset(self.http.get(f"/datasets/{segment(digest)}"))

    def __repr__(self) -> str:
        return f"<RemoteTrackingStore {self.http.server_url}>"


def _metric_bodies(rows: Sequence[tuple[str, str, float, int, int]]) -> list[dict[str, Any]]:
    """The API's metric objects. The time goes as epoch milliseconds, which cost nothing
    to format and are read back exactly: the API reads an integer above 2e10 as
    milliseconds (below, as seconds: such early times go as ISO text instead)."""
    return [{"key": key, "value": value, "step": step,
             "timestamp": ms if ms > _MS_FLOOR else _iso(ms)}
            for _run_id, key, value, step, ms in rows]


_MS_FLOOR = 20_000_000_000


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat()


def _offset_token(offset: int) -> str:
    """The page token the tracking service gives for ``offset`` (base64 of the number)."""
    import base64

    return base64.urlsafe_b64encode(str(offset).encode()).decode()
