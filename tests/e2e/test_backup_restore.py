"""Backup while a writer process logs runs and metrics; restore into a fresh SQLite home
and a fresh PostgreSQL database; compare record by record and digest by digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from modelplane.artifacts.store import ArtifactStore
from modelplane.core.errors import InvalidStateError
from modelplane.ops.backup import _blobs, _tables, backup, restore
from modelplane.store.db import Database

pytestmark = pytest.mark.postgres

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import modelplane as mp
    stop, i = Path(sys.argv[1]), 0
    while not stop.exists() and i < 400:
        with mp.start_run("live", name=f"run-{i}", params={"i": i}) as run:
            run.log_metrics({"loss": 1.0 / (i + 1), "acc": i / 400}, step=i)
            run.log_artifact(Path(sys.argv[2]))
        i += 1
        if i == 3:
            print("writing", flush=True)
""")


def _rows(db: Database) -> dict[str, list[str]]:
    """Every table's rows as sorted JSON strings (times in UTC, JSON as parsed)."""
    out = {}
    with db.connection_scope(readonly=True) as conn:
        for table in _tables():
            rows = conn.execute(select(*table.columns)).all()
            out[table.name] = sorted(json.dumps(
                [v.isoformat() if hasattr(v, "isoformat") else v for v in row],
                sort_keys=True, default=str) for row in rows)
    return out


def _digests(store: ArtifactStore) -> dict[str, int]:
    blobs = dict(_blobs(store))
    assert all(store.verify(d) for d in blobs)  # every blob's content matches its name
    return blobs


def _seed(home: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    import modelplane as mp

    x = np.arange(20.0).reshape(10, 2)
    with mp.start_run("seed") as run:
        run.log_metric("auc", 0.9)
        run.log_model(LogisticRegression().fit(x, [0, 1] * 5), "clf", input_example=x[:2],
                      stage="production")


def test_backup_while_writing_then_restore_on_both_backends(
        mp_home: Path, tmp_path: Path, postgres_url: str) -> None:
    _seed(mp_home)
    source_db = Database(f"sqlite:///{mp_home / 'modelplane.db'}")
    source_store = ArtifactStore(mp_home / "artifacts")
    note = tmp_path / "note.txt"
    note.write_text("artifact of a live run\n")
    stop = tmp_path / "stop"
    env = {**os.environ, "MODELPLANE_HOME": str(mp_home)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(stop), str(note)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        live = backup(source_db, source_store, str(tmp_path / "live.tar"))
        time.sleep(0.5)
    finally:
        stop.touch()
        writer.wait(60)
        if writer.stdout is not None:
            writer.stdout.close()
    assert writer.returncode == 0

    # restored from the backup taken under writes: a consistent earlier state
    fresh = Database(f"sqlite:///{tmp_path / 'fresh' / 'modelplane.db'}")
    fresh_store = ArtifactStore(tmp_path / "fresh" / "artifacts")
    restore(fresh, fresh_store, str(tmp_path / "live.tar"))
    restored, final = _rows(fresh), _rows(source_db)
    for table, rows in restored.items():
        assert len(rows) == live["tables"][table], table
    assert set(restored["metrics"]) <= set(final["metrics"])  # every point really logged
    assert 0 < len(restored["runs"]) < len(final["runs"])  # the writer went on afterwards
    assert set(_digests(fresh_store)) <= set(_digests(source_store))
    with fresh.connection_scope(readonly=True) as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"

    # quiescent: a second backup restores exactly, record by record, digest by digest
    backup(source_db, source_store, str(tmp_path / "final.tar"))
    target = Database(postgres_url)
    target_store = ArtifactStore(tmp_path / "pg-artifacts")
    restore(target, target_store, str(tmp_path / "final.tar"))
    assert _rows(target) == final
    assert _digests(target_store) == _digests(source_store)
    model_dir = tmp_path / "model"
    from modelplane.registry.service import RegistryService

    version = RegistryService(target).get_version("clf", 1)
    target_store.get_dir(version.artifact_digest, model_dir)
    from modelplane.flavors import load_model

    source_store.get_dir(version.artifact_digest, tmp_path / "original")
    x = np.arange(20.0).reshape(10, 2)
    np.testing.assert_array_equal(load_model(model_dir / "model").predict_proba(x),
                                  load_model(tmp_path / "original" / "model").predict_proba(x))

    with pytest.raises(InvalidStateError) as info:  # never over existing records
        restore(target, ArtifactStore(tmp_path / "empty"), str(tmp_path / "final.tar"))
    assert "empty" in info.value.message
    for db in (source_db, fresh, target):
        db.dispose()
