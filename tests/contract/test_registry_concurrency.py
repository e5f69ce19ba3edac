"""The registry under concurrent writers (separate processes), on SQLite and PostgreSQL:
version numbers without gaps or duplicates, and exactly one production holder at every
instant, with an audit log that chains every transition."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from modelplane.registry import RegistryService
from modelplane.store.db import Database
from modelplane.store.tables import model_versions

pytestmark = pytest.mark.slow

PROCESSES = 8
DIGEST = "d" * 64

_PRELUDE = """
import sys
from modelplane.registry import RegistryService
from modelplane.store.db import Database

url, worker = sys.argv[1], int(sys.argv[2])
reg = RegistryService(Database(url))
reg.store.db.ensure_schema()
print("ready", flush=True)
sys.stdin.readline()  # wait for "go" so every process starts together
"""

CREATE_WORKER = _PRELUDE + """
for _ in range(int(sys.argv[3])):
    print(reg.create_version("race", artifact_digest="d" * 64, flavor="python",
                             actor=f"w{worker}").version, flush=True)
"""

PROMOTE_WORKER = _PRELUDE + """
own, rounds = [int(v) for v in sys.argv[3].split(",")], int(sys.argv[4])
for i in range(rounds):
    reg.set_stage("race", own[i % len(own)], "production", actor=f"w{worker}")
"""


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.ensure_schema()
    yield database
    database.dispose()


def _start(script: str, url: str, args: list[list[str]]) -> list[subprocess.Popen[str]]:
    """One worker per ``args`` entry; returns once all are ready and told to go."""
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), url, str(w),
                               *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for w, extra in enumerate(args)]
    for proc in procs:
        line = proc.stdout.readline() if proc.stdout else ""
        if line.strip() != "ready":
            raise RuntimeError(f"worker failed to start: {line}{proc.communicate()[1]}")
    for proc in procs:
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
    return procs


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 90) -> list[str]:
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        outputs.append(out)
    return outputs


def test_concurrent_registrations_number_versions_without_gaps(
        db: Database, database_url: str) -> None:
    per_worker = 50
    procs = _start(CREATE_WORKER, database_url, [[str(per_worker)]] * PROCESSES)
    outputs = _finish(procs)
    returned = sorted(int(v) for out in outputs for v in out.split())
    expected = list(range(1, PROCESSES * per_worker + 1))
    assert returned == expected
    reg = RegistryService(db)
    stored = [v.version for v in reg.search_versions("name = 'race'", max_results=1000)]
    assert sorted(stored) == expected
    creates = [e for e in reg.history("race", limit=None) if e.action == "create"]
    assert [e.version for e in creates] == expected  # audit in commit order


def test_racing_promotions_keep_exactly_one_production_version(
        db: Database, database_url: str) -> None:
    reg = RegistryService(db)
    owned = 4
    for _ in range(PROCESSES * owned):
        reg.create_version("race", artifact_digest=DIGEST, flavor="python")
    rounds = 12
    own = [",".join(str(w * owned + i + 1) for i in range(owned)) for w in range(PROCESSES)]
    procs = _start(PROMOTE_WORKER, database_url, [[o, str(rounds)] for o in own])
    counts = _sample_production_counts(db, procs)
    _finish(procs)
    assert max(counts) <= 1, "two versions in production at once"
    assert 1 in counts
    assert 0 not in counts[counts.index(1):], "production was empty after a promotion"

    moves = [e for e in reg.history("race", limit=None)
             if e.action == "stage" and e.field == "production"]
    assert len(moves) >= rounds
    assert moves[0].displaced_version is None
    for previous, entry in itertools.pairwise(moves):
        assert entry.displaced_version == previous.version, (previous, entry)
        assert entry.from_value != "production" and entry.to_value == "production"
    assert reg.resolve("race@production").version == moves[-1].version


def _sample_production_counts(db: Database, procs: list[subprocess.Popen[str]]) -> list[int]:
    """``count(*)`` of production versions, sampled until every worker has exited."""
    stmt = select(func.count()).select_from(model_versions).where(
        model_versions.c.stage == "production")
    counts: list[int] = []
    deadline = time.monotonic() + 90
    with db.engine.connect() as conn:
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            counts.append(int(conn.execute(stmt).scalar_one()))
            conn.rollback()  # a fresh snapshot for the next sample
        counts.append(int(conn.execute(stmt).scalar_one()))
    return counts
