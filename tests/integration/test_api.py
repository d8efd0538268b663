"""The API (in-process, with its lifespan: snapshot watcher on) over PostgreSQL + S3, and
`perftiers doctor` against the same deployment."""

from __future__ import annotations

import json
import time
import warnings
from datetime import date

import pytest

from perftiers import doctor
from perftiers.api.app import create_app
from perftiers.lakehouse import catalog
from perftiers.metadata import locks, tokens
from perftiers.metadata.db import engine_for
from perftiers.pipeline import jobs
from tests.integration.conftest import SMALL_DEMO, s3_client

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

AS_OF = date(2026, 6, 30)
URL = "/api/performance-metrics"


def wait_for(predicate, timeout: float = 30, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(interval)


def test_api_reads_writes_and_runs_against_postgres_and_s3(deployment):
    settings = deployment.settings("api")
    jobs.sync(settings, trigger="cli")
    jobs.refresh(settings, trigger="cli", as_of=AS_OF)
    db = engine_for(settings.resolved_database_url)
    headers = {"Authorization": f"Bearer {tokens.create(db, 'editor', 'editor-user')[1]}"}
    snapshot = catalog.current_snapshot_id(catalog.load(settings, catalog.PERFORMANCE))

    with TestClient(create_app(settings)) as client:
        listed = client.get(URL, params={"pageSize": 5}, headers=headers)
        assert listed.status_code == 200, listed.text
        assert listed.json()["total"] == SMALL_DEMO["demo_products"]
        assert listed.headers["X-Snapshot-Id"] == str(snapshot)
        summary = client.get(f"{URL}/stats/summary", headers=headers).json()
        assert summary["total_artifacts"] == SMALL_DEMO["demo_products"]
        assert client.get("/analytics/commerce/overview", params={"from": "2026-06-01", "to": "2026-06-30"},
                          headers=headers).json()["order_count"] > 0
        runs = client.get("/api/sync/runs", headers=headers).json()
        assert [(r["kind"], r["status"]) for r in runs["items"]] == [("refresh", "succeeded"), ("sync", "succeeded")]

        # A manual change is an override in PostgreSQL plus one commit to the table in the bucket.
        first = listed.json()["items"][0]["artifact_id"]
        changed = client.put(f"{URL}/{first}", json={"product_name": "Renamed on S3"}, headers=headers)
        assert changed.status_code == 200, changed.text
        assert changed.json()["source"] == "manual"
        wait_for(lambda: client.get(f"{URL}/{first}", headers=headers).json()["product_name"] == "Renamed on S3")

        # Thresholds: ETag / If-Match on PostgreSQL, then a refresh started through the API applies them.
        current = client.get(f"{URL}/settings/classification", headers=headers)
        etag = current.headers["ETag"]
        body = {k: current.json()[k] for k in ("top_riser_7_day_threshold", "top_riser_14_day_threshold",
                                               "winner_30_day_threshold", "banana_count")}
        body["banana_count"] = 3
        saved = client.put(f"{URL}/settings/classification", json=body, headers={**headers, "If-Match": etag})
        assert saved.status_code == 200 and saved.json()["pending"] is True
        stale = client.put(f"{URL}/settings/classification", json=body, headers={**headers, "If-Match": etag})
        assert stale.status_code == 412 and stale.json()["error"]["code"] == "precondition_failed"

        started = client.post(f"{URL}/refresh", params={"as_of": AS_OF.isoformat()}, headers=headers)
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        record = wait_for(lambda: (r := client.get(f"/api/sync/runs/{run_id}", headers=headers).json())
                          and r["status"] != "running" and r)
        assert record["status"] == "succeeded", record
        wait_for(lambda: client.get(URL, headers=headers).headers["X-Snapshot-Id"] == str(record["snapshot_id"]))
        assert client.get(f"{URL}/stats/summary", headers=headers).json()["bananas"] == 3
        assert client.get(f"{URL}/settings/classification", headers=headers).json()["pending"] is False
        assert client.get("/readyz").json()["status"] == "ready"


def test_doctor_passes_on_the_deployment_and_names_what_breaks(deployment):
    settings = deployment.settings("doctor")
    report = doctor.run(settings)
    assert {c.name: c.status for c in report.checks} == {
        "deployment": "ok", "metadata DB": "ok", "schema": "ok", "catalog": "ok", "warehouse": "ok",
        "object store": "ok", "lock": "ok", "clock": "ok"}, report.as_dict()
    assert "shared by every replica" in report.checks[0].detail
    cli = deployment.run_cli("doctor", deployment.write_config(), "doctor", "--output", "json")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert json.loads(cli.stdout)["ok"] is True
    assert f"s3://{deployment.bucket}/warehouse" in report.checks[4].detail
    # Probes are deleted (PyArrow leaves an empty "folder/" marker where a folder would vanish).
    assert [k for k in deployment.s3_keys() if not k.endswith("/")] == []

    # After a sync the warehouse probe goes where the tables are; a held lock is reported.
    jobs.sync(settings, trigger="cli")
    lock = locks.acquire(engine_for(settings.resolved_database_url), lease_seconds=60, holder="run-xyz")
    try:
        checks = {c.name: c for c in doctor.run(settings).checks}
    finally:
        lock.release()
    assert checks["warehouse"].status == "ok" and "/warehouse/raw" in checks["warehouse"].detail
    assert checks["lock"].status == "ok" and "held by run-xyz" in checks["lock"].detail

    # A missing bucket fails the storage checks with the fix spelled out.
    broken = deployment.settings("doctor", object_store="s3://no-such-bucket-here/objects", catalog_name="other",
                                 catalog={**deployment.config["catalog"], "warehouse": "s3://no-such-bucket-here/w"})
    checks = {c.name: c for c in doctor.run(broken).checks}
    assert checks["object store"].status == checks["warehouse"].status == "fail"
    assert "Create the bucket 'no-such-bucket-here'" in checks["object store"].fix
    assert "Create the bucket 'no-such-bucket-here'" in checks["warehouse"].fix

    # Tables whose files were deleted behind the catalog's back.
    client = s3_client(deployment.endpoint)
    for key in deployment.s3_keys("warehouse/"):
        client.delete_object(Bucket=deployment.bucket, Key=key)
    checks = {c.name: c for c in doctor.run(settings).checks}
    assert checks["warehouse"].status == "fail" and "files that are gone" in checks["warehouse"].fix
