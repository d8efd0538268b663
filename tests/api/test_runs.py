"""Pipeline control through the API, sync.telemetry runs, and the scheduler (claims, cron, retries)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from perftiers.errors import AlreadyRunning
from perftiers.metadata import locks
from perftiers.metadata.db import engine_for
from perftiers.pipeline import jobs
from perftiers.pipeline import schedule as sched
from tests.api import store as known
from tests.api.conftest import assert_error, client_for
from tests.storebuilder import line

REFRESH = "/api/performance-metrics/refresh"


def wait_for_run(api, run_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = api.get(f"/api/sync/runs/{run_id}").json()
        if record["status"] != "running":
            return record
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still running")


def test_refresh_runs_in_the_background_and_is_listed(fresh_api):
    api = fresh_api
    started = api.post(REFRESH, role="editor", params={"as_of": "2025-03-31"})
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["status"] == "running" and body["kind"] == "refresh" and body["trigger"] == "manual"
    record = wait_for_run(api, body["run_id"])
    assert record["status"] == "succeeded" and record["spec_version"] == 1 and record["as_of"] == "2025-03-31"
    assert record["counts"]["products"] == 8 and record["duration_ms"] >= 0
    runs = api.get("/api/sync/runs", params={"limit": 10}).json()["items"]
    assert runs[0]["run_id"] == body["run_id"]
    assert [r["kind"] for r in runs] == ["refresh", "refresh", "sync"]  # newest first (store.build ran two)
    assert {r["kind"] for r in api.get("/api/sync/runs", params={"kind": "sync"}).json()["items"]} == {"sync"}
    assert len(api.get("/api/sync/runs", params={"limit": 1}).json()["items"]) == 1
    assert_error(api.get("/api/sync/runs/20990101T000000000000Z-sync-abcdef"), 404)
    assert_error(api.get("/api/sync/runs/..%2F..%2Fsecrets"), 404)
    assert_error(api.get("/api/sync/runs", params={"limit": 0}), 400)
    assert_error(api.get("/api/sync/runs", params={"kind": "deploy"}), 400)
    assert_error(api.post(REFRESH, role="viewer"), 403)


def test_409_while_a_run_holds_the_lock(fresh_api):
    api = fresh_api
    lock = locks.acquire(engine_for(api.settings.resolved_database_url), lease_seconds=60, holder="other")
    try:
        assert_error(api.post(REFRESH, role="editor"), 409, "already_running")
        assert_error(api.post("/api/sync", role="editor"), 409, "already_running")
    finally:
        lock.release()


def test_sync_then_refresh_from_the_api(fresh_api, monkeypatch):
    api = fresh_api
    extra = line("L11", "SKU-006", datetime.now(timezone.utc), 40, order_id="o10")
    monkeypatch.setattr("perftiers.sources.make_source",
                        lambda settings, name=None, path=None: known.source(lines=known.LINES + [extra]))
    started = api.post("/api/sync", role="editor")
    assert started.status_code == 202 and started.json()["then_refresh"] is True
    assert wait_for_run(api, started.json()["run_id"])["status"] == "succeeded"
    deadline = time.monotonic() + 30
    while True:  # the refresh starts when the sync has released the lock
        latest = api.get("/api/sync/runs", params={"kind": "refresh", "limit": 1}).json()["items"][0]
        if latest["trigger"] == "manual":
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert wait_for_run(api, latest["run_id"])["status"] == "succeeded"
    api.reload()
    row = api.get("/api/performance-metrics/SKU-006").json()
    assert row["aggregate_measurement_value"] == 48 and row["sales_last_30_days"] == 40 and row["is_winner"]


def test_the_cli_the_api_and_the_scheduler_start_one_sync_then_refresh(api, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from perftiers.cli import app

    triggers = []
    record = {"run_id": "r1", "kind": "refresh", "status": "succeeded", "started_at": "2025-03-31T00:00:00+00:00",
              "duration_ms": 1, "counts": {"products": 1}, "as_of": "2025-03-31", "spec_version": 1}

    def daily(settings, *, trigger, **kwargs):
        triggers.append(trigger)
        return {**record, "trigger": trigger}

    monkeypatch.setattr(jobs, "sync_then_refresh", daily)
    monkeypatch.setattr(jobs, "backfill", lambda settings, **kwargs: {**record, "kind": "backfill"})  # demo's next step
    assert api.post("/api/sync", role="editor").status_code == 202
    next(job for job in sched.JOBS if job.name == "sync").run(api.settings)
    demo = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "d"), "demo", "--products", "5"])
    assert demo.exit_code == 0, demo.output
    assert triggers == ["manual", "schedule", "cli"]


def test_next_due_uses_the_store_timezone():
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    winter = sched.next_due("0 2 * * *", berlin, datetime(2025, 1, 10, 12, tzinfo=timezone.utc))
    summer = sched.next_due("0 2 * * *", berlin, datetime(2025, 7, 10, 12, tzinfo=timezone.utc))
    assert winter == datetime(2025, 1, 11, 1, tzinfo=timezone.utc)
    assert summer == datetime(2025, 7, 11, 0, tzinfo=timezone.utc)


def fake_registry(ran: list, fail_first: int = 0) -> tuple:
    state = {"failures": fail_first}

    def run(settings):
        if state["failures"] > 0:
            state["failures"] -= 1
            raise AlreadyRunning("busy")
        ran.append(threading.current_thread().name)

    return (sched.ScheduledJob("sync", lambda s: "0 2 * * *", run, "test job"),)


def test_a_due_job_runs_once_across_replicas(settings):
    ran: list = []
    replicas = [sched.Scheduler(settings, registry=fake_registry(ran)) for _ in range(3)]
    before = datetime(2025, 1, 10, 12, tzinfo=timezone.utc)
    for r in replicas:
        r._plan(before)
    due = datetime(2025, 1, 11, 2, 0, 5, tzinfo=timezone.utc)
    results = []
    threads = [threading.Thread(target=lambda r=r: results.append(r.run_due(due))) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ran) == 1 and sorted(map(len, results)) == [0, 0, 1]
    assert all(r._next["sync"] == datetime(2025, 1, 12, 2, tzinfo=timezone.utc) for r in replicas)
    assert replicas[0].run_due(due) == []  # nothing due again until tomorrow


def test_a_busy_pipeline_is_retried(settings):
    ran: list = []
    s = sched.Scheduler(settings, registry=fake_registry(ran, fail_first=2), retry_seconds=0.01)
    s._plan(datetime(2025, 1, 10, 12, tzinfo=timezone.utc))
    assert s.run_due(datetime(2025, 1, 11, 3, tzinfo=timezone.utc)) == ["sync"]
    assert len(ran) == 1


def test_bad_cron_is_a_clear_configuration_error(tmp_path):
    from perftiers.errors import ConfigurationError
    from tests.api.conftest import make_settings

    with pytest.raises(ConfigurationError, match="not a valid cron"):
        sched.Scheduler(make_settings(tmp_path / "d", sync_cron="every night"))


def test_schedule_endpoint_and_lifespan_with_the_scheduler(store, store_tokens):
    from fastapi.testclient import TestClient

    from perftiers.api.app import create_app

    app = create_app(store, scheduler=True)
    with TestClient(app) as client:
        body = client.get("/api/schedule", headers={"Authorization": f"Bearer {store_tokens['viewer']}"}).json()
        assert body["enabled"] is True
        jobs = {j["name"]: j for j in body["jobs"]}
        assert jobs["sync"]["cron"] == store.sync_cron and jobs["sync"]["next_run"]
        assert jobs["refresh"]["cron"] == (store.refresh_cron or "off")
        assert client.get("/readyz").json()["status"] == "ready"
    app2, client2 = client_for(store)
    body = client2.get("/api/schedule", headers={"Authorization": f"Bearer {store_tokens['viewer']}"}).json()
    assert body["enabled"] is False
    app2.state.engine.stop()


def test_every_kind_of_run_is_listed(fresh_api):
    """A history backfill is a run like a sync or a refresh: the run list shows it (it answered 500:
    the response model knew only sync and refresh)."""
    from datetime import timedelta

    record = jobs.backfill(fresh_api.settings, trigger="cli", start=known.AS_OF - timedelta(days=5),
                           end=known.AS_OF - timedelta(days=1))
    assert record["status"] == "succeeded", record
    listed = fresh_api.get("/api/sync/runs", params={"limit": 10})
    assert listed.status_code == 200, listed.text
    assert record["run_id"] in [r["run_id"] for r in listed.json()["items"] if r["kind"] == "backfill"]
    one = fresh_api.get(f"/api/sync/runs/{record['run_id']}")
    assert one.status_code == 200 and one.json()["kind"] == "backfill"


def test_kind_filters_every_recorded_kind(fresh_api):
    """`?kind=` takes every kind a run is recorded as (it took only sync and refresh: 400 for a tag push)."""
    from perftiers.pipeline.runs import run_job

    tags = run_job(fresh_api.settings, "tags", "cli",
                   lambda ctx: {"counts": {"added": 3, "removed": 1, "failed": 0}, "mode": "per_product"})
    backfill = run_job(fresh_api.settings, "backfill", "cli", lambda ctx: {"counts": {"days": 2}})
    for kind, record in (("tags", tags), ("backfill", backfill)):
        response = fresh_api.get("/api/sync/runs", params={"kind": kind, "limit": 100})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [r["run_id"] for r in items] == [record["run_id"]] and items[0]["kind"] == kind
    assert fresh_api.get("/api/sync/runs", params={"kind": "tags"}).json()["items"][0]["counts"] == \
        {"added": 3, "removed": 1, "failed": 0}
    synced = fresh_api.get("/api/sync/runs", params={"kind": "sync", "limit": 100}).json()["items"]
    assert synced and {r["kind"] for r in synced} == {"sync"}
    assert_error(fresh_api.get("/api/sync/runs", params={"kind": "push"}), 400, "bad_request")


def test_a_refresh_listed_as_just_succeeded_is_already_served(fresh_api):
    """The dashboard redraws as soon as a run reads "succeeded": the replica that says so must serve
    that snapshot already, not a moment later when its watcher looks again."""
    api = fresh_api
    engine = api.app.state.engine
    before = api.get("/api/performance-metrics").headers["X-Snapshot-Id"]
    engine.check_interval = 3600  # no swap by the periodic check during this test
    record = known.refresh(api.settings, known.AS_OF)  # another process's refresh (the scheduler, a replica)
    assert str(record["snapshot_id"]) != before and engine.current().snapshot_id == before
    listed = api.get("/api/sync/runs").json()["items"]
    assert listed[0]["run_id"] == record["run_id"] and listed[0]["status"] == "succeeded"
    assert engine.current().snapshot_id == str(record["snapshot_id"])
    assert api.get("/api/performance-metrics").headers["X-Snapshot-Id"] == str(record["snapshot_id"])
