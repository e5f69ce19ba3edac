"""Experiment tracking: experiments, runs, params, metrics, tags, artifacts, datasets."""

from modelplane.tracking.entities import DatasetRecord, Experiment, Metric, Run, RunArtifact

__all__ = ["DatasetRecord", "Experiment", "Metric", "Run", "RunArtifact"]
