"""The artifact (blob) store: content-addressed, over fsspec."""

from modelplane.artifacts.store import ArtifactStore, get_artifact_store, validate_relative_path

__all__ = ["ArtifactStore", "get_artifact_store", "validate_relative_path"]
