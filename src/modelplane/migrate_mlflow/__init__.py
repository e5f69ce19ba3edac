"""Moving from MLflow: ``modelplane import mlflow --from URI`` copies an MLflow history
(experiments, runs, metrics, artifacts, registered models, versions, stages, aliases,
tags) into modelplane, idempotently; ``modelplane models import PATH`` registers one
MLflow model folder. See docs/mlflow.md."""

from __future__ import annotations

__all__: list[str] = []
