"""Remote mode: the client's stores over the REST API of a running ``modelplane server``.

With ``MODELPLANE_SERVER_URL`` (or ``configure(server_url=...)``) set,
:class:`~modelplane.client.Client` builds the same tracking and registry services on
these stores instead of the SQL ones, and uploads artifacts through the server, so a
process needs neither database credentials nor access to the artifact store. What has no
REST path yet raises :func:`~modelplane.remote.unavailable.not_available`.
"""

from __future__ import annotations

from modelplane.remote.artifacts import RemoteArtifactStore
from modelplane.remote.http import RemoteTransport, error_from_response
from modelplane.remote.registry import RemoteRegistryStore
from modelplane.remote.tracking import RemoteTrackingStore
from modelplane.remote.unavailable import not_available

__all__ = [
    "RemoteArtifactStore",
    "RemoteRegistryStore",
    "RemoteTrackingStore",
    "RemoteTransport",
    "error_from_response",
    "not_available",
]
