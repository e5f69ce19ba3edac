"""Alembic environment: runs on the connection modelplane hands over (see migrate.py),
or on ``sqlalchemy.url`` when the ``alembic`` command is used directly."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from modelplane.store.schema import metadata

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(str(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as conn:
        _run(conn)
