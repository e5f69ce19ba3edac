"""Schema migrations: Alembic, applied on first use and by ``modelplane db upgrade``.

Many processes may start at once against a new database (MLflow users hit a race
there). Upgrades are serialised: on PostgreSQL by an advisory lock held on the
migrating connection, on SQLite by an exclusive file lock beside the database file.
The revision is read again after the lock is taken, so only the first process migrates.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from modelplane.core.errors import InvalidStateError

if TYPE_CHECKING:
    from modelplane.store.db import Database

__all__ = ["HEAD_REVISION", "current_revision", "ensure_head", "upgrade"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Migrations are named ``NNNN_what.py`` with ``revision = "NNNN"`` (a test checks that
#: the chain is linear and matches the names), so the known revisions and the head come
#: from the file names without importing Alembic.
KNOWN_REVISIONS = tuple(sorted(
    p.name[:4] for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")))
HEAD_REVISION = KNOWN_REVISIONS[-1]
_PG_LOCK_KEY = 0x6D706C616E65  # "mplane"


def current_revision(conn: Connection) -> str | None:
    """The schema revision recorded in the database, None for an empty database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise InvalidStateError(
            f"the metadata database is at schema revision {revision!r}, which this version "
            f"of modelplane does not know (its newest is {HEAD_REVISION!r}); upgrade modelplane",
            details={"revision": revision, "head": HEAD_REVISION},
        )


def ensure_head(db: Database) -> str:
    """Upgrade to head if needed; return the revision before the call."""
    try:
        engine = db.engine.execution_options(modelplane_readonly=True)
        with engine.connect() as conn, db.unbounded(conn):
            before = current_revision(conn)
            conn.rollback()
        if before == HEAD_REVISION:
            return before
        _check_known(before)
        return upgrade(db)
    except DBAPIError as exc:
        from modelplane.store.db import translate_db_error

        raise translate_db_error(exc) from exc


def upgrade(db: Database) -> str:
    """Run pending migrations under the cross-process lock; return the prior revision."""
    with _migration_lock(db) as conn:
        before = current_revision(conn)
        _check_known(before)
        if before != HEAD_REVISION:
            _run_alembic(conn)
        return before or "none"


@contextmanager
def _migration_lock(db: Database) -> Iterator[Connection]:
    if db.dialect == "postgresql":
        # unbounded: it may wait on another process's migration, and run a long one
        with db.engine.connect() as conn, db.unbounded(conn):
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    path = db.sqlite_path
    if path is None:
        with db.engine.connect() as conn:
            yield conn
        return
    fd = os.open(f"{path}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with db.engine.connect() as conn:
            yield conn
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _run_alembic(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    if conn.in_transaction():
        conn.rollback()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
    if conn.in_transaction():
        conn.commit()
