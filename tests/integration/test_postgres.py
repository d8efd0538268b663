"""PostgreSQL as the shared metadata DB and Iceberg catalog of several processes.

Processes here are real (`python -c`), each importing first and then waiting for one go signal,
so they hit the database at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa

from perftiers.metadata import db as metadata_db
from perftiers.metadata import locks
from perftiers.metadata.db import engine_for

pytestmark = pytest.mark.integration

PROCESSES = 4


def _at_once(code: str, n: int = PROCESSES, **params: object) -> list:
    """Run `code` in `n` fresh interpreters released at the same instant; each prints one JSON value.

    `code` has two parts split by `# -- go --`: each interpreter runs the first (imports, setup),
    reports ready and waits; once all are ready the second part runs in all of them at once.
    """
    setup, go = (textwrap.dedent(part) for part in code.split("# -- go --"))
    script = "\n".join(["import json, sys", "params = json.loads(sys.argv[1])", setup,
                        "print('ready', flush=True)", "sys.stdin.readline()", go])
    procs = [subprocess.Popen([sys.executable, "-c", script, json.dumps({**params, "i": i})], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(n)]
    try:
        for p in procs:
            line = p.stdout.readline()
            assert line.strip() == "ready", p.stderr.read()
        for p in procs:  # the go signal, as close together as a loop gets
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def test_processes_starting_at_once_on_a_fresh_database_all_come_up(pg_url):
    """Tables, migrations and the SQL catalog's tables: one process does each, the others find it done.
    (A migration applied twice would fail: the column would exist already.)"""
    results = _at_once(
        """
        import sqlalchemy as sa
        from perftiers.lakehouse import catalog
        from perftiers.metadata import db
        from perftiers.metadata.db import engine_for
        from perftiers.settings import load_settings
        db.MIGRATIONS.append(("9999-test-add-a-column", lambda conn: conn.execute(
            sa.text("ALTER TABLE job_lock ADD COLUMN note VARCHAR(20)"))))
        settings = load_settings(home="/nonexistent", database_url=params["url"],
                                 catalog={"type": "sql", "uri": params["url"], "warehouse": "file:///tmp/unused"})
        # -- go --
        try:
            engine_for(settings.resolved_database_url)
            catalog.catalog(settings).list_namespaces()
            print(json.dumps("ok"))
        except Exception as exc:
            print(json.dumps(f"{type(exc).__name__}: {exc}"[:300]))
        """,
        url=pg_url,
    )
    assert results == ["ok"] * PROCESSES
    inspector = sa.inspect(engine_for(pg_url))
    assert set(metadata_db.metadata.tables) <= set(inspector.get_table_names())
    assert {"iceberg_tables", "iceberg_namespace_properties"} <= set(inspector.get_table_names())
    assert "note" in {c["name"] for c in inspector.get_columns("job_lock")}
    with engine_for(pg_url).connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM schema_migration")).scalars().all() == ["9999-test-add-a-column"]


def test_the_pipeline_lock_has_one_holder_when_processes_race_for_it(pg_url):
    engine_for(pg_url)  # schema in place
    results = _at_once(
        """
        from datetime import timedelta
        from perftiers.metadata import locks
        from perftiers.metadata.db import engine_for
        engine = engine_for(params["url"])
        # -- go --
        print(json.dumps(locks.try_acquire(engine, locks.PIPELINE, f"p{params['i']}", timedelta(seconds=60))))
        """,
        url=pg_url,
    )
    assert sorted(results) == [False] * (PROCESSES - 1) + [True]
    holder = locks.current_holder(engine_for(pg_url))
    assert holder == f"p{results.index(True)}"


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew_or_release_it(pg_url):
    engine = engine_for(pg_url)
    lease = timedelta(seconds=60)
    assert locks.try_acquire(engine, "job", "crashed", timedelta(seconds=-1))  # already expired
    assert locks.current_holder(engine, "job") is None
    assert locks.try_acquire(engine, "job", "next", lease)
    assert not locks.try_acquire(engine, "job", "third", lease)
    assert not locks.renew(engine, "job", "crashed", lease)
    locks.release(engine, "job", "crashed")
    assert locks.current_holder(engine, "job") == "next"
    locks.release(engine, "job", "next")
    assert locks.try_acquire(engine, "job", "third", lease)


def test_concurrent_spec_writes_with_the_same_expected_version_give_one_winner(pg_url):
    results = _at_once(
        """
        from perftiers.errors import PreconditionFailed
        from perftiers.metadata import artifacts
        from perftiers.metadata.db import engine_for
        engine = engine_for(params["url"])
        artifacts.current_spec(engine)  # version 1
        # -- go --
        try:
            art = artifacts.append(engine, "classification_spec", {"banana_count": params["i"]}, "p",
                                   expected_version=1)
            print(json.dumps(art.version))
        except PreconditionFailed:
            print(json.dumps("412"))
        """,
        url=pg_url,
    )
    assert sorted(results, key=str) == [2] + ["412"] * (PROCESSES - 1)
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT MAX(version), COUNT(*) FROM macrodata_artifact").fetchone() == (2, 2)
