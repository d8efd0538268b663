"""Two `perftiers serve` processes sharing one PostgreSQL database and one bucket.

- a job scheduled on both replicas runs exactly once (the `schedule_claim` row decides);
- concurrent threshold PUTs with the same `If-Match`, one per replica, give one 200 and one 412;
- a refresh started through replica A shows up in replica B's runs list and B serves its snapshot.
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg
import pytest

from perftiers.metadata import tokens
from perftiers.metadata.db import engine_for
from perftiers.pipeline import jobs
from perftiers.pipeline.runs import telemetry
from tests.integration.conftest import Deployment
from tests.serve import launch

pytestmark = pytest.mark.integration

AS_OF = date(2026, 6, 30)
SCHEDULE_LEAD_SECONDS = 35
"""How far ahead the scheduled job is due: both replicas must be up and have planned it by then.
The If-Match and refresh checks run in the meantime when there is time, else after it."""
QUIET_SECONDS = 20
"""Time the If-Match and refresh checks need, kept clear of the scheduled run (it takes the lock)."""
THRESHOLDS = ("top_riser_7_day_threshold", "top_riser_14_day_threshold", "winner_30_day_threshold", "banana_count")


class Replica:
    def __init__(self, deployment: Deployment, node: str, config: Path):
        self.node, self.log = node, deployment.root / f"{node}.log"
        self.server = launch(None, env=deployment.env(node, config), scheduler=True, log=self.log)
        self.client = httpx.Client(timeout=30)

    @property
    def url(self) -> str:
        return self.server.base_url

    def wait_ready(self, deadline: float) -> None:
        self.server.wait_until_up(deadline=deadline)
        self.client.base_url = self.url

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def cron_at(moment: datetime) -> str:
    """A six-field cron (seconds last, as croniter reads it) due once, at `moment` (UTC)."""
    return f"{moment.minute} {moment.hour} {moment.day} {moment.month} * {moment.second}"


@pytest.fixture
def replicas(deployment: Deployment):
    settings = deployment.settings("seed")
    jobs.sync(settings, trigger="cli")
    jobs.refresh(settings, trigger="cli", as_of=AS_OF)
    editor = tokens.create(engine_for(settings.resolved_database_url), "editor", "editor-user")[1]

    due = (datetime.now(timezone.utc) + timedelta(seconds=SCHEDULE_LEAD_SECONDS)).replace(microsecond=0)
    config = deployment.write_config(sync_cron=cron_at(due))
    started = [Replica(deployment, "a", config), Replica(deployment, "b", config)]
    try:
        deadline = time.monotonic() + 60
        for replica in started:
            replica.wait_ready(deadline)
            replica.client.headers["Authorization"] = f"Bearer {editor}"
        yield settings, due, started
    finally:
        for replica in started:
            replica.stop()


def _schedule_runs(settings) -> list[dict]:
    return [r for r in telemetry(settings).list(limit=100) if r["trigger"] == "schedule"]


def test_two_replicas_share_one_deployment(replicas, deployment):
    settings, due, (a, b) = replicas
    assert datetime.now(timezone.utc) < due - timedelta(seconds=2), "replicas started too slowly for the schedule"
    for replica in (a, b):
        planned = replica.client.get("/api/schedule").json()
        assert planned["enabled"] is True
        [sync_job] = [j for j in planned["jobs"] if j["name"] == "sync"]
        assert datetime.fromisoformat(sync_job["next_run"].replace("Z", "+00:00")) == due

    if datetime.now(timezone.utc) + timedelta(seconds=QUIET_SECONDS) < due:
        check_if_match_and_refresh(a, b)
        check_scheduled_run_once(settings, deployment, due, a, b)
    else:
        check_scheduled_run_once(settings, deployment, due, a, b)
        check_if_match_and_refresh(a, b)


def check_scheduled_run_once(settings, deployment: Deployment, due: datetime, a: Replica, b: Replica) -> None:
    """The scheduled sync (and the refresh after it) runs once across both replicas."""
    wait_for(lambda: any(r["kind"] == "refresh" and r["status"] != "running" for r in _schedule_runs(settings)),
             timeout=SCHEDULE_LEAD_SECONDS + 60, what="the scheduled sync and refresh")
    time.sleep(1.5)  # a second replica running the same due time would have recorded its start by now
    scheduled = _schedule_runs(settings)
    assert sorted((r["kind"], r["status"]) for r in scheduled) == [("refresh", "succeeded"), ("sync", "succeeded")]
    with psycopg.connect(deployment.database_url.replace("+psycopg", "")) as conn:
        claims = conn.execute("SELECT job, due_at, claimed_by FROM schedule_claim").fetchall()
    assert [(job, due_at) for job, due_at, _ in claims] == [("sync", due)]
    assert "claimed by another replica" in a.log.read_text() + b.log.read_text()
    refreshed = next(r for r in scheduled if r["kind"] == "refresh")
    for replica in (a, b):
        wait_for(lambda: replica.client.get("/api/performance-metrics").headers["X-Snapshot-Id"]
                 == str(refreshed["snapshot_id"]), timeout=30, what=f"{replica.node} serving the scheduled refresh")


def check_if_match_and_refresh(a: Replica, b: Replica) -> None:
    # Concurrent threshold PUTs with the same If-Match, one through each replica: one 200, one 412.
    for round_ in range(3):
        current = a.client.get("/api/performance-metrics/settings/classification")
        etag = current.headers["ETag"]
        assert b.client.get("/api/performance-metrics/settings/classification").headers["ETag"] == etag
        bodies = [{**{k: current.json()[k] for k in THRESHOLDS}, "banana_count": 5 + round_ * 2 + i}
                  for i in range(2)]
        barrier, statuses = threading.Barrier(2), {}

        def put(replica, body):
            barrier.wait()
            statuses[replica.node] = replica.client.put("/api/performance-metrics/settings/classification",
                                                        json=body, headers={"If-Match": etag}).status_code

        threads = [threading.Thread(target=put, args=(r, body)) for r, body in zip((a, b), bodies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses.values()) == [200, 412], statuses
    latest = b.client.get("/api/performance-metrics/settings/classification").json()
    assert latest["pending"] is True and a.client.get(
        "/api/performance-metrics/settings/classification").json()["version"] == latest["version"]

    # A refresh started through A: B lists the run and serves the new snapshot with the new spec. As of
    # the served reference date: the scheduled refresh (if it ran first, on a slow start) was as of
    # today, and the tier history refuses an older date.
    as_of = b.client.get("/api/performance-metrics", params={"pageSize": 1}).json()["items"][0]["as_of"]
    started = a.client.post("/api/performance-metrics/refresh", params={"as_of": as_of})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    record = wait_for(lambda: (r := b.client.get(f"/api/sync/runs/{run_id}")).status_code == 200
                      and r.json()["status"] != "running" and r.json(), timeout=60, what="the refresh on B")
    assert record["status"] == "succeeded" and record["trigger"] == "manual", record
    assert record["spec_version"] == latest["version"]
    assert run_id in [r["run_id"] for r in b.client.get("/api/sync/runs").json()["items"]]
    wait_for(lambda: b.client.get("/api/performance-metrics").headers["X-Snapshot-Id"] == str(record["snapshot_id"]),
             timeout=30, what="B serving A's snapshot")
    assert b.client.get("/api/performance-metrics/stats/summary").json()["bananas"] == latest["banana_count"]
    assert b.client.get("/api/performance-metrics/settings/classification").json()["pending"] is False
    assert a.client.get("/api/performance-metrics").headers["X-Snapshot-Id"] == str(record["snapshot_id"])
