"""API schemas of artifact blobs and of records that point at uploaded blobs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from modelplane.server.schemas.tracking import TreeEntryOut

__all__ = ["ArtifactRecordIn", "BlobOut", "DatasetRecordIn", "TreeOut"]

Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BlobOut(BaseModel):
    digest: str
    size: int


class TreeOut(BaseModel):
    """A stored directory: its manifest's digest and its files."""

    digest: str
    files: list[TreeEntryOut]


class ArtifactRecordIn(_In):
    """A run artifact whose blobs are already uploaded: one file blob, or a directory
    tree (its manifest's digest, every file blob present)."""

    path: str
    digest: Digest
    is_dir: bool = False


class DatasetRecordIn(_In):
    """A dataset version described by the client (``describe`` ran where the data is),
    linked to the run under ``role``. The server keeps one record per ``digest``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    digest: Digest
    name: Annotated[str, StringConstraints(
        min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\s](?:[^\x00-\x1f]*[^\x00-\x1f\s])?$")]
    source: Annotated[str, StringConstraints(max_length=4096)] = ""
    num_rows: Annotated[int, Field(ge=0)]
    num_columns: Annotated[int, Field(ge=0)]
    schema_: list[dict[str, Any]] = Field(alias="schema")
    profile: dict[str, Any] = Field(default_factory=dict)
    role: str = "train"
