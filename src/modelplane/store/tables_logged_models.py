"""Tables of logged models (MLflow 3's ``LoggedModel``), on the shared ``tables.metadata``.

- ``logged_models``: a model logged by a run before (or without) registration: its
  experiment, the run that produced it (and the step it was output at), name, status,
  type, tags and params. Ids look like MLflow's (``m-`` and 32 hex characters).
- ``logged_model_files``: the files of a logged model, each a blob of the artifact store
  by digest, keyed by (model, path) so parallel uploads of one model never collide.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, Table

from modelplane.store.tables import ID, TS, metadata

__all__ = ["logged_model_files", "logged_models", "metadata"]

MODEL_ID = String(40)

logged_models = Table(
    "logged_models",
    metadata,
    Column("id", MODEL_ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.id", ondelete="CASCADE"),
           nullable=False),
    Column("run_id", ID, nullable=True),  # tracking's run, by id only
    Column("step", BigInteger, nullable=False, server_default="0"),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("model_type", String(256), nullable=False, server_default=""),
    Column("tags", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index(None, "experiment_id", "created_at"),
    Index(None, "run_id"),
)

logged_model_files = Table(
    "logged_model_files",
    metadata,
    Column("model_id", MODEL_ID, ForeignKey("logged_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", TS, nullable=False),
)

