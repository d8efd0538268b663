"""Fencing: a job whose lease ran out, and whose lock another run then took, stops before its next
commit and writes nothing after the takeover (sync, refresh and manual edits alike)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from perftiers.errors import PerftiersError
from perftiers.lakehouse import catalog
from perftiers.metadata import artifacts, locks, overrides
from perftiers.metadata.db import engine_for, job_lock
from perftiers.pipeline import jobs
from perftiers.pipeline.runs import run_job
from perftiers.refresh import edits, mart
from perftiers.sync import sync_store
from tests.api import store as known
from tests.pipeline import runs, snapshot_ids
from tests.storebuilder import line, product

LOST = "[Ll]ost the pipeline lock; another run took over; nothing more was written"
OTHER = "other-run"


def take_over(settings) -> locks.HeldLock:
    """What another process does once this one's lease has run out: find it expired, take the lock."""
    engine = engine_for(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(sa.update(job_lock).where(job_lock.c.name == locks.PIPELINE)
                     .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    return locks.acquire(engine, lease_seconds=60, holder=OTHER)


def taking_over_at(settings, step: str, taken: list):
    """A progress callback that lets another run take the lock when the job reaches `step`."""

    def progress(name: str, done: int | None = None, total: int | None = None) -> None:
        if name == step and not taken:
            taken.append(take_over(settings))

    return progress


def assert_failed_and_still_taken(settings, taken: list) -> None:
    record = runs(settings, limit=1)[0]
    assert record["status"] == "failed" and "LostLock: Lost the pipeline lock" in record["error"]
    assert locks.current_holder(engine_for(settings.resolved_database_url)) == OTHER  # not freed by the loser
    taken[0].release()


def test_a_sync_that_lost_the_lock_commits_nothing_more(settings):
    known.build(settings)
    before = snapshot_ids(settings)
    new = known.source(products=known.PRODUCTS + [product("SKU-009", name="Theta Bag")],
                       lines=known.LINES + [line("L99", "SKU-009", known.ts(2025, 3, 30), 2, order_id="o99")])
    taken: list = []
    with pytest.raises(PerftiersError, match=LOST):
        run_job(settings, "sync", "cli", lambda ctx: sync_store(ctx, new),
                progress=taking_over_at(settings, "writing raw.order_lines", taken))
    after = snapshot_ids(settings)
    assert after["raw.products"] != before["raw.products"]  # committed before the takeover
    assert after["raw.order_lines"] == before["raw.order_lines"]  # nothing after it
    assert_failed_and_still_taken(settings, taken)


def test_a_refresh_that_lost_the_lock_commits_nothing_more(settings):
    known.build(settings)
    before = snapshot_ids(settings)
    applied = artifacts.latest(engine_for(settings.resolved_database_url), artifacts.MART_REFRESH).version
    taken: list = []
    with pytest.raises(PerftiersError, match=LOST):
        # full: the daily sales are rewritten (an incremental refresh of unchanged lines writes none)
        jobs.refresh(settings, trigger="cli", as_of=known.AS_OF, full=True,
                     progress=taking_over_at(settings, "writing measurement.performance", taken))
    after = snapshot_ids(settings)
    assert after["measurement.daily_sales"] != before["measurement.daily_sales"]  # before the takeover
    assert after["measurement.performance"] == before["measurement.performance"]
    assert artifacts.latest(engine_for(settings.resolved_database_url), artifacts.MART_REFRESH).version == applied
    assert_failed_and_still_taken(settings, taken)


def test_a_manual_edit_that_lost_the_lock_commits_nothing(settings, monkeypatch):
    known.build(settings)
    before = snapshot_ids(settings)
    classify = mart.classify

    def classify_then_lose_the_lock(*args, **kwargs):
        data = classify(*args, **kwargs)
        taken.append(take_over(settings))
        return data

    taken: list = []
    monkeypatch.setattr(mart, "classify", classify_then_lose_the_lock)
    with pytest.raises(PerftiersError, match=LOST):
        edits.update(settings, "SKU-006", {"product_name": "renamed"}, by="test")
    assert snapshot_ids(settings)[catalog.table_name(catalog.PERFORMANCE)] == before["measurement.performance"]
    assert overrides.load_all(engine_for(settings.resolved_database_url)) == []  # the saved change taken back
    taken[0].release()


def test_a_renewal_that_finds_the_lock_taken_marks_it_lost(settings):
    lock = locks.acquire(engine_for(settings.resolved_database_url), lease_seconds=1, holder="me")
    other = take_over(settings)
    deadline = time.monotonic() + 10
    while not lock.lost:  # the next renewal (a third of the lease) finds another holder
        assert time.monotonic() < deadline, "the renewal loop never noticed"
        time.sleep(0.05)
    with pytest.raises(PerftiersError, match=LOST):
        lock.ensure_held()
    lock.release()
    assert locks.current_holder(engine_for(settings.resolved_database_url)) == OTHER
    other.release()
