"""What a serving request is answered by: a served model, or a deployment routing over
versions. Both routes (``/predict`` and the Open Inference Protocol) ask a target for the
version to run (:meth:`pick`) and tell it what happened (:meth:`after`: Prometheus
figures, the prediction log, a deployment's per-variant stats and shadow copies).

A deployment picks a request's variant by its route table: sticky by the key in the
``x-modelplane-key`` header, else the deployment's ``key_field`` (a field of the record,
of the first record of a list, an OIP request parameter or the first element of the
input tensor of that name), else at random by weight. Its responses carry
``x-modelplane-variant``; ``/predict`` answers also name the deployment and variant. The
answer is sent first; shadow copies and prediction-log records are queued after it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import ModelplaneError
from modelplane.server.routes._asgi import Reject

if TYPE_CHECKING:
    from modelplane.deployments.router import DeploymentRouter, Entry, RouteTable
    from modelplane.serving.metrics import ServingMetrics
    from modelplane.serving.oip import InferRequest
    from modelplane.serving.runtime import LoadedVersion, ModelRuntime

__all__ = ["DeploymentTarget", "ModelTarget"]

KEY_HEADER = b"x-modelplane-key"
Scope = MutableMapping[str, Any]


class ModelTarget:
    """A model served by name (``modelplane serve URI`` or ``server --serve URI``)."""

    __slots__ = ("metrics", "model", "name", "runtime")

    def __init__(self, name: str, runtime: ModelRuntime, metrics: ServingMetrics) -> None:
        self.name = self.model = name
        self.runtime, self.metrics = runtime, metrics

    def record_key(self, scope: Scope, data: Any) -> str | None:
        return None

    def oip_key(self, scope: Scope, req: InferRequest) -> str | None:
        return None

    def check(self, number: int | None) -> None:
        """Refuse an unknown model or version before the body is read."""
        self.pick(None, number)

    def pick(self, key: str | None, number: int | None) -> tuple[Entry | None, LoadedVersion]:
        try:
            return None, self.runtime.get(self.name, number)
        except ModelplaneError:
            raise
        except Exception as exc:  # never a 500 for a lookup
            raise Reject(404, f"model {self.name!r}: {exc}", "not_found") from None

    def fields(self, entry: Entry | None) -> dict[str, Any]:
        return {}

    def headers(self, entry: Entry | None) -> list[Any]:
        return []

    def after(self, entry: Entry | None, handle: LoadedVersion | None, status: int,
              seconds: float, data: Any, result: Any, request_id: str,
              raw: bytes | None = None, response: bytes | None = None) -> None:
        if handle is not None or self.name in self.runtime.models:
            # a name nobody serves is not a label value: any path would make a series
            self.metrics.request(self.name, handle.label if handle is not None else "",
                                 status, seconds)
        if handle is not None and (status == 200 or status >= 500):
            self.runtime.predlog.log(self.name, handle.number, request_id, data, result, seconds,
                             error=None if status == 200 else f"HTTP {status}", raw=raw,
                             response=response)


class DeploymentTarget:
    """A deployment: its route table picks each request's version (see above)."""

    __slots__ = ("metrics", "model", "name", "router", "table")

    def __init__(self, table: RouteTable, router: DeploymentRouter,
                 metrics: ServingMetrics) -> None:
        self.name, self.model = table.name, table.model
        self.table, self.router, self.metrics = table, router, metrics

    def record_key(self, scope: Scope, data: Any) -> str | None:
        key = _header_key(scope)
        field = self.table.key_field
        if key is not None or field is None:
            return key
        record = data[0] if isinstance(data, list) and data else data
        if isinstance(record, dict) and record.get(field) is not None:
            return str(record[field])
        return None

    def oip_key(self, scope: Scope, req: InferRequest) -> str | None:
        key = _header_key(scope)
        field = self.table.key_field
        if key is not None or field is None:
            return key
        if req.parameters.get(field) is not None:
            return str(req.parameters[field])
        for tensor in req.inputs:
            if tensor.name == field and tensor.data.size:
                value = tensor.data.reshape(-1)[0]
                return str(value.item() if hasattr(value, "item") else value)
        return None

    def check(self, number: int | None) -> None:
        """Refuse a version the deployment does not route before the body is read."""
        if number is not None:
            self.table.version(number)

    def pick(self, key: str | None, number: int | None) -> tuple[Entry | None, LoadedVersion]:
        # the newest table: routing may have changed while the body was read
        self.table = table = self.router.tables.get(self.name, self.table)
        return table.version(number) if number is not None else table.pick(key)

    def fields(self, entry: Entry | None) -> dict[str, Any]:
        return {"deployment": self.name, "variant": entry.variant if entry else None}

    def headers(self, entry: Entry | None) -> list[Any]:
        return [(b"x-modelplane-variant", entry.variant.encode())] if entry is not None else []

    def after(self, entry: Entry | None, handle: LoadedVersion | None, status: int,
              seconds: float, data: Any, result: Any, request_id: str,
              raw: bytes | None = None, response: bytes | None = None) -> None:
        label = handle.label if handle is not None else ""
        self.metrics.request(self.name, label, status, seconds)
        if entry is None or handle is None:
            return
        router, table = self.router, self.table
        router.record(table, entry, label, status, seconds)
        if status >= 500:
            router.log(table, entry, handle.number, request_id, data, None, seconds,
                       f"HTTP {status}")
        if status == 200:
            if table.shadows:
                router.shadow(table, data, request_id)
            router.log(table, entry, handle.number, request_id, data, result, seconds,
                       raw=raw, response=response)


def _header_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == KEY_HEADER and value:
            return str(value.decode("latin-1"))
    return None
