"""The :class:`~.context.MlflowContext` of an app, built once from the app's client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from modelplane.server.mlflow.context import MlflowContext

__all__ = ["ContextDep", "from_ms"]


def _context(request: Request) -> MlflowContext:
    context: MlflowContext | None = getattr(request.app.state, "mlflow_context", None)
    if context is None:
        client = request.app.state.client
        context = request.app.state.mlflow_context = MlflowContext(
            client.tracking, client.registry, client.logged_models, client.artifacts)
    return context


ContextDep = Annotated[MlflowContext, Depends(_context)]


def from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)
