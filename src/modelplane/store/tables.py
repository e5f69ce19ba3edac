"""Table definitions of the metadata database (SQLAlchemy Core).

Each capability owns its tables; they refer to each other by id. Alembic migrations in
``migrations/versions`` create exactly these tables (a test compares the two).
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Text

__all__ = ["meta", "metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Facts about this installation (installation id, creation time).
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
