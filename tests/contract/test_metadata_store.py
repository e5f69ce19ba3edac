"""The metadata store contract, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import text

from modelplane.core.errors import AlreadyExistsError, StorageUnavailableError
from modelplane.store.db import Database
from modelplane.store.migrate import (
    HEAD_REVISION,
    KNOWN_REVISIONS,
    MIGRATIONS_DIR,
    current_revision,
)


def test_first_use_creates_the_schema_at_head(database_url: str) -> None:
    db = Database(database_url)
    with db.session_scope(readonly=True) as session:
        keys = set(session.execute(text("SELECT key FROM meta")).scalars())
    assert keys == {"installation_id", "created_at"}
    with db.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
    db.dispose()


def test_session_scope_commits_and_rolls_back(database_url: str) -> None:
    db = Database(database_url)
    with db.session_scope() as session:
        session.execute(text("INSERT INTO meta (key, value) VALUES ('a', '1')"))
    with pytest.raises(RuntimeError), db.session_scope() as session:
        session.execute(text("INSERT INTO meta (key, value) VALUES ('b', '2')"))
        raise RuntimeError("boom")
    with db.session_scope(readonly=True) as session:
        keys = set(session.execute(text("SELECT key FROM meta")).scalars())
    assert "a" in keys and "b" not in keys
    db.dispose()


def test_integrity_errors_become_already_exists_and_leave_nothing(database_url: str) -> None:
    db = Database(database_url)
    with pytest.raises(AlreadyExistsError, match="already exists"), db.session_scope() as s:
        s.execute(text("INSERT INTO meta (key, value) VALUES ('c', '1')"))
        s.execute(text("INSERT INTO meta (key, value) VALUES ('c', '2')"))
    with db.session_scope(readonly=True) as session:
        assert session.execute(text("SELECT count(*) FROM meta WHERE key = 'c'")).scalar() == 0
    db.dispose()


def test_migrations_and_table_definitions_agree(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_heads() == [HEAD_REVISION]
    chain = [s.revision for s in scripts.walk_revisions()][::-1]
    assert chain == list(KNOWN_REVISIONS)  # linear, and named after the files

    from modelplane.store.schema import metadata

    db = Database(database_url)
    db.ensure_schema()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    db.dispose()


def test_unreachable_database_is_storage_unavailable() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StorageUnavailableError, match="unavailable"), db.session_scope():
        pass


FIRST_USE = textwrap.dedent("""
    import sys
    from sqlalchemy import text
    from modelplane.store.db import Database
    db = Database(sys.argv[1])
    with db.session_scope() as s:
        s.execute(text("INSERT INTO meta (key, value) VALUES (:k, 'x')"), {"k": sys.argv[2]})
    print("ok")
""")


def test_eight_processes_first_use_at_once(database_url: str) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", FIRST_USE, database_url, f"proc-{i}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(8)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    db = Database(database_url)
    with db.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
        keys = set(conn.execute(text("SELECT key FROM meta")).scalars())
    assert {f"proc-{i}" for i in range(8)} <= keys
    db.dispose()
