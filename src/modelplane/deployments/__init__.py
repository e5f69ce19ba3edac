"""Deployments: traffic split over model versions, sticky A/B tests, shadow traffic,
canaries with automatic analysis, blue/green switches, and evaluation gates for stages.

State lives in the metadata database, so every server replica routes alike; see
``docs/deployments.md``. This package's ``__init__`` imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.deployments.canary import Decision
    from modelplane.deployments.entities import (
        Canary,
        CanaryGate,
        Deployment,
        DeploymentEvent,
        GateResult,
        Variant,
        VariantStats,
    )
    from modelplane.deployments.service import DeploymentService

__all__ = ["Canary", "CanaryGate", "Decision", "Deployment", "DeploymentEvent",
           "DeploymentService", "GateResult", "Variant", "VariantStats"]

_LAZY = {"Decision": "canary", "DeploymentService": "service"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'modelplane.deployments' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f"modelplane.deployments.{_LAZY.get(name, 'entities')}")
    value = getattr(module, name)
    globals()[name] = value
    return value
