"""Where an MLflow history is read from: a tracking server over its REST API
(:class:`RestSource`), or its database plus the artifact root (:class:`~.dbsource.DatabaseSource`).

Both yield MLflow's own JSON shapes (``Experiment``, ``Run``, ``Metric``,
``RegisteredModel``, ``ModelVersion`` as the REST API returns them), so the importer
works on one shape. Artifacts are listed and read by URI (``mlflow-artifacts:/``,
``file://`` or a path, mapped onto ``--artifact-root`` when given).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from modelplane.core.errors import InvalidArgumentError, NotFoundError, StorageUnavailableError

__all__ = ["LocalArtifacts", "MlflowSource", "RestSource", "open_source"]

Json = dict[str, Any]


class MlflowSource(Protocol):
    def experiments(self) -> list[Json]: ...
    def runs(self, experiment_id: str) -> Iterator[Json]: ...
    def metric_history(self, run_id: str, key: str) -> list[Json]: ...
    def files(self, uri: str) -> list[tuple[str, int]]:
        """Every file under the artifact ``uri``: (relative path, size)."""
        ...
    def read(self, uri: str, path: str) -> bytes: ...
    def registered_models(self) -> list[Json]: ...
    def versions(self, name: str) -> list[Json]: ...


class LocalArtifacts:
    """Artifacts in a folder: the URIs' experiment/run part is looked up under ``root``."""

    def __init__(self, root: str | None) -> None:
        self.root = Path(root) if root else None

    def _folder(self, uri: str) -> Path:
        if uri.startswith("mlflow-artifacts:"):
            if self.root is None:
                raise InvalidArgumentError("--artifact-root is needed to read "
                                           f"{uri} from a database source",
                                           details={"field": "artifact_root"})
            return self.root / uri.removeprefix("mlflow-artifacts:").lstrip("/")
        path = Path(uri.removeprefix("file://"))
        if self.root is not None and not path.exists() and "/" in uri:
            parts = path.parts
            for i in range(len(parts)):  # .../mlruns/1/<run>/artifacts -> root/1/<run>/...
                candidate = self.root.joinpath(*parts[i:])
                if candidate.exists():
                    return candidate
        return path

    def files(self, uri: str) -> list[tuple[str, int]]:
        folder = self._folder(uri)
        if not folder.is_dir():
            return []
        return sorted((p.relative_to(folder).as_posix(), p.stat().st_size)
                      for p in folder.rglob("*") if p.is_file())

    def read(self, uri: str, path: str) -> bytes:
        return (self._folder(uri) / path).read_bytes()


class RestSource:
    """An MLflow tracking server (``http://host:5000``), artifacts through its proxy."""

    def __init__(self, url: str, token: str | None = None) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=60, headers=headers)

    def _call(self, method: str, path: str, **kwargs: Any) -> Json:
        import httpx

        try:
            answer = self.http.request(method, f"/api/2.0/mlflow/{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise StorageUnavailableError(f"MLflow server {self.http.base_url} is "
                                          f"unreachable: {exc}") from None
        if answer.status_code != 200:
            raise StorageUnavailableError(f"MLflow server answered {answer.status_code} to "
                                          f"{path}: {answer.text[:200]}")
        return answer.json()  # type: ignore[no-any-return]

    def _pages(self, method: str, path: str, field: str, body: Json) -> Iterator[Json]:
        token = None
        while True:
            page_body = {**body, **({"page_token": token} if token else {})}
            kwargs = {"params": page_body} if method == "GET" else {"json": page_body}
            page = self._call(method, path, **kwargs)
            yield from page.get(field, [])
            token = page.get("next_page_token")
            if not token:
                return

    def experiments(self) -> list[Json]:
        return list(self._pages("POST", "experiments/search", "experiments",
                                {"max_results": 1000, "view_type": "ALL"}))

    def runs(self, experiment_id: str) -> Iterator[Json]:
        for run in self._pages("POST", "runs/search", "runs",
                               {"experiment_ids": [experiment_id], "max_results": 1000,
                                "run_view_type": "ALL"}):
            full = self._call("GET", "runs/get", params={"run_id": run["info"]["run_id"]})
            yield full["run"]

    def metric_history(self, run_id: str, key: str) -> list[Json]:
        return list(self._pages("GET", "metrics/get-history", "metrics",
                                {"run_id": run_id, "metric_key": key}))

    def _proxy_path(self, uri: str) -> str:
        if not uri.startswith("mlflow-artifacts:"):
            raise InvalidArgumentError(f"artifact URI {uri!r} is not served by the MLflow "
                                       "server; import from its database with "
                                       "--artifact-root", details={"field": "artifact_root"})
        return uri.removeprefix("mlflow-artifacts:").strip("/")

    def files(self, uri: str) -> list[tuple[str, int]]:
        root, todo = self._proxy_path(uri), [""]
        found: list[tuple[str, int]] = []
        while todo:
            sub = todo.pop()
            answer = self.http.get("/api/2.0/mlflow-artifacts/artifacts",
                                   params={"path": f"{root}/{sub}".rstrip("/")})
            if answer.status_code != 200:
                return found
            for entry in answer.json().get("files", []):
                rel = f"{sub}/{entry['path']}".lstrip("/")
                if entry.get("is_dir"):
                    todo.append(rel)
                else:
                    found.append((rel, int(entry.get("file_size", 0))))
        return sorted(found)

    def read(self, uri: str, path: str) -> bytes:
        answer = self.http.get(f"/api/2.0/mlflow-artifacts/artifacts/{self._proxy_path(uri)}/"
                               f"{path}")
        if answer.status_code != 200:
            raise NotFoundError(f"artifact {uri}/{path}: HTTP {answer.status_code}")
        return answer.content

    def registered_models(self) -> list[Json]:
        return list(self._pages("GET", "registered-models/search", "registered_models",
                                {"max_results": 1000}))

    def versions(self, name: str) -> list[Json]:
        found = list(self._pages("GET", "model-versions/search", "model_versions",
                                 {"filter": f"name = '{name}'", "max_results": 1000}))
        for version in found:
            uri = self._call("GET", "model-versions/get-download-uri",
                             params={"name": name, "version": version["version"]})
            version["storage_location"] = uri.get("artifact_uri") or version.get("source")
        return sorted(found, key=lambda v: int(v["version"]))


def open_source(uri: str, artifact_root: str | None = None,
                token: str | None = None) -> MlflowSource:
    if uri.startswith(("http://", "https://")):
        return RestSource(uri, token)
    if "://" in uri and uri.split("://")[0].split("+")[0] in ("sqlite", "postgresql", "mysql"):
        from modelplane.migrate_mlflow.dbsource import DatabaseSource

        return DatabaseSource(uri, artifact_root)
    raise InvalidArgumentError(f"--from {uri!r}: expected an MLflow server URL (http://...) "
                               "or its database URL (sqlite:///..., postgresql://...)",
                               details={"field": "from"})

