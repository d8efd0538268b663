"""The daily sync (idempotent upsert, all-or-nothing on a bad source), telemetry and the pipeline lock."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from perftiers.errors import AlreadyRunning
from perftiers.lakehouse import catalog
from perftiers.metadata import locks
from perftiers.metadata.db import engine_for, job_lock
from perftiers.pipeline import jobs
from perftiers.pipeline.runs import run_job
from perftiers.sources.base import RowProblem, SourceRejected, StoreExtract
from perftiers.sync import sync_store

from tests.pipeline import performance, refresh, runs, snapshot_ids, sync, table_arrow
from tests.storebuilder import MemorySource, line, product

T0 = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
AS_OF = date(2024, 5, 31)


def rows(settings, ident, key):
    return sorted(table_arrow(settings, ident).to_pylist(), key=lambda r: r[key])


def products_of(settings):
    return {r["artifact_id"]: r for r in rows(settings, catalog.PRODUCTS, "artifact_id")}


def lines_of(settings):
    return {r["line_id"]: r for r in rows(settings, catalog.ORDER_LINES, "line_id")}


def store() -> MemorySource:
    return MemorySource(
        [product("a", launched_at=T0, tags=["color:red", "fit:slim"]), product("b", is_active=False),
         product("c", name="Cap")],
        [line("l1", "a", T0, 2, order_id="o1", discount="1.25"),
         line("l2", "a", T0 + timedelta(days=1), 1, order_id="o2", refunded_quantity=1),
         line("l3", "c", T0 + timedelta(days=2), 5, order_id="o2", cancelled=True)],
    )


def snapshot_counts(settings):
    return {catalog.table_name(i): len(catalog.load(settings, i).snapshots()) for i in (catalog.PRODUCTS, catalog.ORDER_LINES)}


# -- idempotence and upsert -----------------------------------------------------------------------

def test_syncing_the_same_data_twice_changes_nothing(settings):
    first = sync(settings, store())
    assert first["counts"]["products_written"] == 3 and first["counts"]["order_lines_written"] == 3
    assert (first["counts"]["products"], first["counts"]["order_lines"], first["counts"]["orders"]) == (3, 3, 2)
    before = (snapshot_ids(settings), snapshot_counts(settings), products_of(settings), lines_of(settings))

    second = sync(settings, store())
    assert second["status"] == "succeeded"
    assert second["counts"]["products_written"] == second["counts"]["order_lines_written"] == 0
    assert second["counts"]["rows_written"] == 0
    assert (snapshot_ids(settings), snapshot_counts(settings), products_of(settings), lines_of(settings)) == before
    assert before[2]["a"]["tags"] == ["color:red", "fit:slim"]


def test_upsert_updates_changed_rows_adds_new_ones_and_keeps_absent_ones(settings):
    sync(settings, store())
    ids_before = snapshot_ids(settings)
    commits_before = {i: len(catalog.load(settings, i).metadata.metadata_log) for i in (catalog.PRODUCTS, catalog.ORDER_LINES)}
    changed = MemorySource(
        [product("a", name="Renamed", launched_at=T0, tags=["color:blue"], is_active=False),  # changed
         product("b", is_active=False),                                                    # same
         product("d", vendor="Other")],                                                    # new; c absent
        [line("l1", "a", T0, 3, order_id="o1", discount="1.25"),                           # changed quantity
         line("l3", "c", T0 + timedelta(days=2), 5, order_id="o2", cancelled=True),        # same
         line("l4", "d", T0 + timedelta(days=3), 7, order_id="o4")],                       # new; l2 absent
    )
    record = sync(settings, changed)
    assert record["counts"]["products_written"] == 2
    assert record["counts"]["order_lines_written"] == 2
    assert record["counts"]["rows_written"] == 4

    products = products_of(settings)
    assert sorted(products) == ["a", "b", "c", "d"]
    assert (products["a"]["product_name"], products["a"]["tags"], products["a"]["is_active"]) == (
        "Renamed", ["color:blue"], False)
    assert products["c"]["product_name"] == "Cap" and products["d"]["vendor"] == "Other"
    lines = lines_of(settings)
    assert sorted(lines) == ["l1", "l2", "l3", "l4"]
    assert lines["l1"]["quantity"] == 3 and lines["l2"]["refunded_quantity"] == 1 and lines["l4"]["quantity"] == 7
    assert len(lines_of(settings)) == 4  # no duplicate of the updated key
    # each raw table moved by exactly one commit (an overwrite is a delete and an append snapshot
    # made by the same run in that one commit)
    after = snapshot_ids(settings)
    for ident in (catalog.PRODUCTS, catalog.ORDER_LINES):
        table = catalog.load(settings, ident)
        assert after[catalog.table_name(ident)] != ids_before[catalog.table_name(ident)]
        assert len(table.metadata.metadata_log) == commits_before[ident] + 1
        snap = table.current_snapshot()
        while snap.snapshot_id != ids_before[catalog.table_name(ident)]:
            assert snap.summary["perftiers.run_id"] == record["run_id"]
            snap = table.snapshot_by_id(snap.parent_snapshot_id)

    # only new keys: appended, the earlier rows untouched
    record = sync(settings, MemorySource([product("e")], [line("l5", "e", T0, 1)]))
    assert record["counts"]["products_written"] == record["counts"]["order_lines_written"] == 1
    assert sorted(products_of(settings)) == ["a", "b", "c", "d", "e"]
    assert lines_of(settings)["l1"]["quantity"] == 3 and len(lines_of(settings)) == 5
    assert catalog.load(settings, catalog.ORDER_LINES).current_snapshot().summary.operation.value == "append"


# -- a failing source changes nothing -------------------------------------------------------------

class FailingSource:
    """Serves `inner`'s data but fails in `extract()` or after the first order-line batch."""

    name = "failing"

    def __init__(self, inner: MemorySource, where: str):
        self.inner, self.where = inner, where

    def extract(self) -> StoreExtract:
        problem = SourceRejected([RowProblem("order_lines.csv", 7, "quantity 'x' is not an integer")])
        if self.where == "extract":
            raise problem
        if self.where == "oserror":
            raise OSError("connection reset by store")
        inner = self.inner.extract()

        def batches():
            it = inner.order_lines()
            yield next(it)
            raise problem

        return StoreExtract(products=inner.products, order_lines=batches)


def _new_store() -> MemorySource:
    return MemorySource([product("a", name="New name"), product("z")],
                        [line(f"n{i}", "z", T0, 1) for i in range(1500)] + [line("l1", "a", T0, 9)])


@pytest.mark.parametrize("where", ["extract", "order_lines", "oserror", "duplicate_keys"])
def test_a_failing_source_leaves_every_table_at_its_previous_snapshot(settings, where):
    sync(settings, store())
    refresh(settings, AS_OF)
    before_ids = snapshot_ids(settings)
    before = (products_of(settings), lines_of(settings), performance(settings))

    if where == "duplicate_keys":
        source = MemorySource([product("a", name="New"), product("q")],
                              [line("dup", "a", T0, 1), line("dup", "q", T0, 2)])
        expected = SourceRejected
    else:
        source = FailingSource(_new_store(), where)
        expected = OSError if where == "oserror" else SourceRejected
    with pytest.raises(expected) as info:
        sync(settings, source)
    if where == "duplicate_keys":
        assert "line_id 'dup' appears 2 times" in str(info.value)

    assert snapshot_ids(settings) == before_ids
    assert (products_of(settings), lines_of(settings), performance(settings)) == before
    failed = runs(settings)[0]
    assert failed["kind"] == "sync" and failed["status"] == "failed"
    assert failed["error"].startswith(expected.__name__)
    assert failed["finished_at"] is not None and failed["duration_ms"] >= 0
    # the lock was released: the next run goes ahead
    assert locks.current_holder(engine_for(settings.resolved_database_url)) is None
    assert sync(settings, store())["status"] == "succeeded"


# -- telemetry -------------------------------------------------------------------------------------

def test_telemetry_records_succeeded_and_failed_runs(settings):
    synced = sync(settings, store())
    refreshed = refresh(settings, AS_OF)
    with pytest.raises(SourceRejected):
        sync(settings, FailingSource(store(), "extract"))

    records = runs(settings)
    assert [r["run_id"] for r in records] == [r["run_id"] for r in sorted(records, key=lambda r: r["started_at"],
                                                                         reverse=True)]
    failed, ok_refresh, ok_sync = records
    assert ok_sync["run_id"] == synced["run_id"] and ok_refresh["run_id"] == refreshed["run_id"]

    for rec, kind in ((ok_sync, "sync"), (ok_refresh, "refresh"), (failed, "sync")):
        assert rec["kind"] == kind and rec["trigger"] == "cli"
        started = datetime.fromisoformat(rec["started_at"])
        finished = datetime.fromisoformat(rec["finished_at"])
        assert started <= finished
        assert 0 <= rec["duration_ms"] <= (finished - started).total_seconds() * 1000 + 1
        assert rec["run_id"].startswith(started.strftime("%Y%m%dT%H%M%S"))

    assert ok_sync["status"] == "succeeded" and ok_sync["error"] is None
    assert ok_sync["counts"] == {"products": 3, "order_lines": 3, "orders": 2, "products_written": 3,
                                 "order_lines_written": 3, "rows_written": 6}
    assert ok_refresh["status"] == "succeeded" and ok_refresh["error"] is None
    assert ok_refresh["spec_version"] == 1 and ok_refresh["as_of"] == AS_OF.isoformat()
    assert ok_refresh["snapshot_id"] == catalog.current_snapshot_id(catalog.load(settings, catalog.PERFORMANCE))
    assert ok_refresh["counts"]["products"] == 3
    assert ok_refresh["counts"]["daily_sales_rows"] == 3
    assert failed["status"] == "failed" and failed["counts"] == {}
    assert "quantity 'x' is not an integer" in failed["error"]


def test_a_background_run_is_recorded_as_running_then_final(settings):
    done = threading.Event()
    gate = threading.Event()
    finals = []

    def job(ctx):
        gate.wait(10)
        return sync_store(ctx, store())

    started = run_job(settings, "sync", "manual", job, background=True,
                      on_done=lambda rec: (finals.append(rec), done.set()))
    assert started["status"] == "running" and started["finished_at"] is None
    stored = runs(settings)[0]
    assert stored["run_id"] == started["run_id"] and stored["status"] == "running"
    with pytest.raises(AlreadyRunning):
        jobs.refresh(settings, trigger="manual", as_of=AS_OF)
    gate.set()
    assert done.wait(30)
    assert finals[0]["status"] == "succeeded"
    assert runs(settings)[0]["status"] == "succeeded" and runs(settings)[0]["counts"]["products_written"] == 3


# -- the pipeline lock -----------------------------------------------------------------------------

def test_a_second_run_while_the_lock_is_held_raises_already_running(settings):
    engine = engine_for(settings.resolved_database_url)
    held = locks.acquire(engine, lease_seconds=60, holder="other-process")
    try:
        for start in (lambda: sync(settings, store()), lambda: refresh(settings, AS_OF)):
            with pytest.raises(AlreadyRunning):
                start()
        assert runs(settings) == []  # a refused run leaves no record
        assert locks.current_holder(engine) == "other-process"
    finally:
        held.release()
    assert locks.current_holder(engine) is None
    assert sync(settings, store())["status"] == "succeeded"


def test_an_expired_lease_of_a_killed_holder_does_not_block(settings):
    engine = engine_for(settings.resolved_database_url)
    # a holder that died without releasing: its row stays, nobody renews it
    assert locks.try_acquire(engine, locks.PIPELINE, "killed", timedelta(seconds=1))
    with pytest.raises(AlreadyRunning):
        sync(settings, store())
    time.sleep(1.2)
    assert locks.current_holder(engine) is None
    record = sync(settings, store())
    assert record["status"] == "succeeded"
    assert locks.current_holder(engine) is None


def test_a_held_lease_is_renewed_while_the_job_runs(settings):
    engine = engine_for(settings.resolved_database_url)
    lease = timedelta(seconds=3)

    def expires_at() -> datetime:
        with engine.connect() as conn:
            value = conn.execute(sa.select(job_lock.c.expires_at).where(job_lock.c.name == locks.PIPELINE)).scalar_one()
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    assert locks.try_acquire(engine, locks.PIPELINE, "long-job", lease)
    first = expires_at()
    held = locks.HeldLock(engine, locks.PIPELINE, "long-job", lease)
    try:
        # Wait for two renewals (every third of the lease), however slow the machine is.
        deadline = time.monotonic() + 60
        while expires_at() < first + 2 * lease / 3:
            assert time.monotonic() < deadline, "the lease was not renewed"
            time.sleep(0.05)
        # Just renewed, so the lease has most of its length left: a newcomer is refused.
        assert not locks.try_acquire(engine, locks.PIPELINE, "newcomer", lease)
        assert locks.current_holder(engine) == "long-job"
    finally:
        held.release()
    assert locks.try_acquire(engine, locks.PIPELINE, "newcomer", lease)


def test_two_concurrent_refreshes_exactly_one_succeeds(settings):
    sync(settings, store())
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def slow_progress(step, done=None, total=None):
        time.sleep(0.5)  # keeps the winner inside its run (7 steps) while the other one tries

    def worker(i):
        barrier.wait()
        try:
            results[i] = jobs.refresh(settings, trigger="manual", as_of=AS_OF, progress=slow_progress)
        except AlreadyRunning as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    succeeded = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, AlreadyRunning)]
    assert len(succeeded) == 1 and len(refused) == 1, results
    assert succeeded[0]["status"] == "succeeded"
    assert [r["run_id"] for r in runs(settings) if r["kind"] == "refresh"] == [succeeded[0]["run_id"]]
    assert sorted(performance(settings)) == ["a", "b", "c"]
    assert locks.current_holder(engine_for(settings.resolved_database_url)) is None


def test_raw_order_lines_is_created_partitioned_in_one_commit(settings):
    """A process killed while creating the table must not leave it unpartitioned for good."""
    table = catalog.load(settings, catalog.ORDER_LINES)
    assert [f.name for f in table.spec().fields] == ["ordered_month"]
    assert table.metadata.metadata_log == []  # created with its spec: no second metadata version
    assert catalog.load(settings, catalog.ORDER_LINES).metadata_location == table.metadata_location
