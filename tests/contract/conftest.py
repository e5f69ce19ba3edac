"""The contract suites' modes: ``embedded`` (the SQL stores on the case's database) and
``remote`` (the ``Remote*`` stores of a remote client, over real HTTP, against a live
server that runs on the case's database). A suite opts in by asking for ``platform``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.remote_server import ThreadServer, thread_server


@pytest.fixture(params=["embedded", pytest.param("remote", marks=pytest.mark.remote)])
def mode(request: pytest.FixtureRequest) -> str:
    if request.param == "remote" and request.node.get_closest_marker("embedded_only"):
        marker = request.node.get_closest_marker("embedded_only")
        pytest.skip(f"embedded only: {marker.args[0] if marker.args else 'a store internal'}")
    return str(request.param)


@pytest.fixture
def live(mode: str, database_url: str, tmp_path: Path) -> Iterator[ThreadServer | None]:
    """The live server of a remote case (on the case's database); None when embedded."""
    if mode == "embedded":
        yield None
        return
    with thread_server(tmp_path / "server-home", database_url=database_url) as server:
        yield server


@pytest.fixture
def remote_client(live: ThreadServer | None, tmp_path: Path) -> Iterator[object | None]:
    """A remote ``Client`` of the live server (its home holds only its model cache)."""
    if live is None:
        yield None
        return
    from modelplane.client import Client
    from modelplane.core.config import Settings

    client = Client(Settings(home=tmp_path / "client-home", server_url=live.url,
                             allow_pickle=live.client.settings.allow_pickle))
    yield client
    client.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A remote case runs its server on SQLite only, with its default stores: the server's
    stores are the embedded ones, already run on PostgreSQL (and the Parquet log) by the
    embedded cases; what the remote case adds is the REST path, the same over either."""
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        params = params.params if params is not None else {}
        if params.get("mode") == "remote" and (params.get("database_url") == "postgres"
                                               or params.get("make") == "parquet"):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
