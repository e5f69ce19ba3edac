"""Online backup and restore of a modelplane installation: the metadata and its artifacts.

A backup is one tar file (a local path, or any fsspec URL such as ``s3://bucket/b.tar``)::

    manifest.json              format, time, source dialect, schema revision, row counts
    tables/<table>.jsonl       every row of every metadata table, one JSON object a line
    blobs/ab/cdef...           the artifact blobs (local stores), or
    artifacts.json             the list of blobs and sizes (object stores, which keep
                               their own versions: back them up with the store's tools)

Consistency while the server runs and writes: on SQLite the database is first copied with
SQLite's online backup API (a page-consistent copy, never a torn file: a ``cp`` of a live
database can give "database disk image is malformed"), and the tables are read from that
copy; on PostgreSQL they are read in one ``REPEATABLE READ`` read-only transaction (one
snapshot of all tables). Blobs are immutable and written before any record names them, so
every blob the snapshot references is in the store when the blobs are copied afterwards
(blobs newer than the snapshot may come along; they are harmless).

The dump is dialect-neutral: a SQLite backup restores into PostgreSQL and back. Restore
refuses a target that already holds records or blobs, creates the schema, inserts every
table in dependency order, resets PostgreSQL's id sequences, and stores each blob through
the artifact store (its digest is checked on the way in).
"""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Table, func, select, text

from modelplane.core.errors import InvalidArgumentError, InvalidStateError
from modelplane.core.timeutil import utcnow
from modelplane.store.db import Database

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore

__all__ = ["BACKUP_FORMAT", "Progress", "backup", "restore"]

BACKUP_FORMAT = "modelplane.backup/1"
BATCH = 5000
SCHEMA_TABLES = ("meta",)  # filled when the schema is created: replaced by the backup's
#: Called with (what, done, total): "tables" in rows, "blobs" in bytes.
Progress = Callable[[str, int, int], None]


def _tables() -> list[Table]:
    from modelplane.store.schema import metadata

    return list(metadata.sorted_tables)


# -- values <-> JSON ------------------------------------------------------------------
def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Decimal):
        return float(value)
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$b64" in value:
            return base64.b64decode(value["$b64"])
    return value


def _row_json(table: Table, row: Any) -> str:
    out = {}
    for column, value in zip(table.columns, row, strict=True):
        out[column.name] = value if isinstance(column.type, JSON) else _encode(value)
    return json.dumps(out, separators=(",", ":"))


def _row_values(table: Table, line: str) -> dict[str, Any]:
    data = json.loads(line)
    return {c.name: data[c.name] if isinstance(c.type, JSON) else _decode(data[c.name])
            for c in table.columns if c.name in data}


# -- snapshot -------------------------------------------------------------------------
def _sqlite_snapshot(db: Database, folder: Path) -> Database:
    """A page-consistent copy of the live SQLite database (SQLite's backup API)."""
    path = db.sqlite_path
    if path is None:
        raise InvalidArgumentError("an in-memory SQLite database cannot be backed up",
                                   details={"field": "database_url"})
    copy = folder / "snapshot.db"
    source = sqlite3.connect(path, timeout=30)
    target = sqlite3.connect(copy)
    try:
        source.backup(target, pages=4096)
    finally:
        target.close()
        source.close()
    return Database(f"sqlite:///{copy}")


def _dump_tables(db: Database, folder: Path, progress: Progress | None) -> dict[str, int]:
    counts: dict[str, int] = {}
    with db.engine.connect() as conn, db.unbounded(conn):  # a snapshot takes what it takes
        if db.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                          postgresql_readonly=True)
        with conn.begin():
            totals = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                      for t in _tables()}
            total, done = sum(totals.values()), 0
            for table in _tables():
                order = _order(table)
                with (folder / f"{table.name}.jsonl").open("w", encoding="utf-8") as out:
                    result = conn.execution_options(yield_per=BATCH).execute(
                        select(*table.columns).order_by(*order))
                    for row in result:
                        out.write(_row_json(table, row) + "\n")
                counts[table.name] = totals[table.name]
                done += totals[table.name]
                if progress:
                    progress("tables", done, total)
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    counts["__revision__"] = revision  # type: ignore[assignment]
    return counts


def _order(table: Table) -> list[Any]:
    """Oldest first where rows have a time (a parent run before its children: restore
    inserts in this order), then by primary key."""
    when = [table.c[n] for n in ("start_time", "created_at") if n in table.c][:1]
    return when + (list(table.primary_key.columns) or list(table.columns))


def _blobs(store: ArtifactStore) -> list[tuple[str, int]]:
    """Every blob in the store as (digest, size)."""
    base = f"{store.root}/blobs"
    if not store.fs.exists(base):
        return []
    found = []
    for path in store.fs.find(base):
        rel = path[len(base) + 1:].replace(os.sep, "/")
        digest = rel.replace("/", "")
        if len(digest) == 64:
            found.append((digest, int(store.fs.size(path))))
    return sorted(found)


def backup(db: Database, store: ArtifactStore, out: str, *,
           progress: Progress | None = None) -> dict[str, Any]:
    """Write a backup of ``db`` and ``store`` to ``out`` (path or fsspec URL); returns
    its manifest."""
    with tempfile.TemporaryDirectory(prefix="modelplane-backup-") as tmp:
        folder = Path(tmp)
        (folder / "tables").mkdir()
        source = _sqlite_snapshot(db, folder) if db.dialect == "sqlite" else db
        try:
            counts = _dump_tables(source, folder / "tables", progress)
        finally:
            if source is not db:
                source.dispose()
        revision = counts.pop("__revision__")
        blobs = _blobs(store)
        manifest = {
            "format": BACKUP_FORMAT, "created_at": utcnow().isoformat(),
            "dialect": db.dialect, "revision": revision, "tables": counts,
            "artifacts": {"mode": "copy" if store.is_local else "manifest",
                          "root": store.root_url, "blobs": len(blobs),
                          "bytes": sum(size for _, size in blobs)},
        }
        with _open_out(out) as handle, tarfile.open(fileobj=handle, mode="w|") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
            for table in _tables():
                tar.add(folder / "tables" / f"{table.name}.jsonl",
                        arcname=f"tables/{table.name}.jsonl")
            if store.is_local:
                _add_blobs(tar, store, blobs, progress)
            else:
                listing = [{"digest": d, "size": s} for d, s in blobs]
                _add_bytes(tar, "artifacts.json", json.dumps(listing).encode())
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), int(utcnow().timestamp())
    tar.addfile(info, io.BytesIO(data))


def _add_blobs(tar: tarfile.TarFile, store: ArtifactStore, blobs: list[tuple[str, int]],
               progress: Progress | None) -> None:
    total, done = sum(size for _, size in blobs), 0
    for digest, size in blobs:
        path = store._blob_path(digest)
        tar.add(path, arcname=f"blobs/{digest[:2]}/{digest[2:]}")
        done += size
        if progress:
            progress("blobs", done, total)


class _open_out:
    """A writable binary file for a local path or an fsspec URL (written whole or not at
    all for a local path: a temporary name, renamed when complete)."""

    def __init__(self, out: str) -> None:
        self.out = out

    def __enter__(self) -> Any:
        if "://" in self.out:
            import fsspec

            self.handle = fsspec.open(self.out, "wb").open()
            self.tmp = None
        else:
            target = Path(self.out)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = target.with_name(f".{target.name}.part")
            self.handle = self.tmp.open("wb")
        return self.handle

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self.handle.close()
        if self.tmp is not None:
            if exc_type is None:
                os.replace(self.tmp, self.out)
            else:
                self.tmp.unlink(missing_ok=True)


# -- restore ----------------------------------------------------------------------------
def _check_empty(db: Database, store: ArtifactStore) -> None:
    with db.connection_scope(readonly=True) as conn:
        busy = [t.name for t in _tables() if t.name not in SCHEMA_TABLES
                and conn.execute(select(func.count()).select_from(t)).scalar_one()]
    if busy:
        raise InvalidStateError(
            f"refusing to restore into a database that already holds records (tables "
            f"{', '.join(busy[:5])}{'...' if len(busy) > 5 else ''}): restore into a new, "
            "empty home or database", details={"field": "database_url", "tables": busy})
    if _blobs(store):
        raise InvalidStateError(
            f"refusing to restore into an artifact store that already holds blobs "
            f"({store.root_url}): restore into a new, empty home or artifact root",
            details={"field": "artifact_root"})


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        if not member.isfile() or member.name.startswith("/") or ".." in member.name:
            raise InvalidArgumentError(f"unexpected entry {member.name!r} in the backup",
                                       details={"field": "file"})
        yield member


def restore(db: Database, store: ArtifactStore, source: str, *,
            progress: Progress | None = None) -> dict[str, Any]:
    """Restore the backup at ``source`` into the empty ``db`` and ``store``."""
    db.ensure_schema()
    _check_empty(db, store)
    written: list[str] = []
    try:
        return _restore(db, store, source, written, progress)
    except BaseException:  # the database rolled back: take the blobs back out too
        for digest in written:
            store.delete(digest)
        raise


def _restore(db: Database, store: ArtifactStore, source: str, written: list[str],
             progress: Progress | None) -> dict[str, Any]:
    import fsspec

    with fsspec.open(source, "rb") as handle, tarfile.open(fileobj=handle, mode="r|") as tar:
        members = _members(tar)
        first = next(members, None)
        manifest = _manifest(tar, first)
        by_name = {t.name: t for t in _tables()}
        done, total = 0, sum(manifest["tables"].values())
        with db.connection_scope() as conn:
            _relax_foreign_keys(conn, db.dialect)
            for member in members:
                data = tar.extractfile(member)
                assert data is not None  # a regular file (checked in _members)
                if member.name.startswith("tables/"):
                    table = by_name.get(member.name[len("tables/"):-len(".jsonl")])
                    if table is not None:
                        if table.name in SCHEMA_TABLES:
                            conn.execute(table.delete())
                        done += _insert(conn, table, data)
                        if progress:
                            progress("tables", done, total)
                elif member.name.startswith("blobs/"):
                    written.append(_restore_blob(store, member.name, data))
            if db.dialect == "postgresql":
                _reset_sequences(conn)
    return manifest


def _manifest(tar: tarfile.TarFile, first: tarfile.TarInfo | None) -> dict[str, Any]:
    from modelplane.store.migrate import HEAD_REVISION

    if first is None or first.name != "manifest.json":
        raise InvalidArgumentError("not a modelplane backup (no manifest.json first)",
                                   details={"field": "file"})
    data = tar.extractfile(first)
    manifest: dict[str, Any] = json.loads(data.read() if data else b"{}")
    if manifest.get("format") != BACKUP_FORMAT:
        raise InvalidArgumentError(f"unknown backup format {manifest.get('format')!r}; "
                                   f"expected {BACKUP_FORMAT}", details={"field": "file"})
    if manifest["revision"] != HEAD_REVISION:
        raise InvalidStateError(
            f"the backup's schema is revision {manifest['revision']}, this modelplane's is "
            f"{HEAD_REVISION}: restore with the modelplane version that made it",
            details={"field": "file"})
    return manifest


def _relax_foreign_keys(conn: Any, dialect: str) -> None:
    """Rows go in table by table in dependency order, oldest first; SQLite checks foreign
    keys at commit (PostgreSQL's are not deferrable: the order is what holds there)."""
    if dialect == "sqlite":
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")


def _insert(conn: Any, table: Table, data: io.BufferedReader | Any) -> int:
    rows, count = [], 0
    while line := data.readline():
        rows.append(_row_values(table, line.decode("utf-8")))
        if len(rows) >= BATCH:
            conn.execute(table.insert(), rows)
            count, rows = count + len(rows), []
    if rows:
        conn.execute(table.insert(), rows)
        count += len(rows)
    return count


def _restore_blob(store: ArtifactStore, name: str, data: Any) -> str:
    digest = name[len("blobs/"):].replace("/", "")
    got = store.put_stream(data)
    if got != digest:
        from modelplane.core.errors import IntegrityCheckError

        store.delete(got)
        raise IntegrityCheckError(f"blob {digest} in the backup is corrupt (its content "
                                  f"hashes to {got})", details={"digest": digest})
    return digest


def _reset_sequences(conn: Any) -> None:
    for table in _tables():
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                    f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)")
