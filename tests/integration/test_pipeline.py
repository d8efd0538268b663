"""The whole pipeline on a real deployment: metadata + catalog on PostgreSQL, warehouse + telemetry
in an S3 bucket. The results must equal the embedded default's, and nothing may land locally."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from perftiers.lakehouse import catalog
from perftiers.metadata import artifacts
from perftiers.metadata.db import engine_for
from perftiers.pipeline import jobs
from perftiers.pipeline.runs import telemetry
from perftiers.settings import load_settings
from tests import pipeline
from tests.integration.conftest import SMALL_DEMO

pytestmark = pytest.mark.integration

AS_OF = date(2026, 6, 30)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _rows(settings) -> list[dict]:
    rows = pipeline.table_arrow(settings, catalog.PERFORMANCE).to_pylist()
    for row in rows:
        row.pop("refreshed_at")
    return sorted(rows, key=lambda r: r["artifact_id"])


def test_sync_and_refresh_write_only_to_postgres_and_the_bucket(deployment, tmp_path):
    settings = deployment.settings("node")
    synced = jobs.sync(settings, trigger="cli")
    refreshed = jobs.refresh(settings, trigger="cli", as_of=AS_OF)
    assert synced["status"] == refreshed["status"] == "succeeded"
    assert synced["counts"]["products"] == SMALL_DEMO["demo_products"]

    # Every table lives in the bucket, registered in the PostgreSQL catalog.
    for ident in catalog.TABLE_SCHEMAS:
        assert catalog.load(settings, ident).location().startswith(f"s3://{deployment.bucket}/warehouse/")
    keys = deployment.s3_keys("warehouse/")
    assert any(k.endswith(".parquet") for k in keys) and any(k.endswith(".metadata.json") for k in keys)
    with psycopg.connect(_libpq(deployment.database_url)) as conn:
        tables = conn.execute("SELECT table_namespace, table_name FROM iceberg_tables WHERE catalog_name = %s",
                              (settings.catalog_name,)).fetchall()
        assert sorted(tables) == sorted(catalog.TABLE_SCHEMAS)
        kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM macrodata_artifact GROUP BY kind").fetchall())
    assert kinds == {artifacts.CLASSIFICATION_SPEC: 1, artifacts.MART_REFRESH: 1}

    # sync.telemetry records are objects in the bucket, listed newest first.
    assert len(deployment.s3_keys("objects/sync/telemetry/")) == 2
    runs = telemetry(settings).list()
    assert [(r["kind"], r["status"]) for r in runs] == [("refresh", "succeeded"), ("sync", "succeeded")]
    assert runs[0]["snapshot_id"] == catalog.current_snapshot_id(catalog.load(settings, catalog.PERFORMANCE))

    # The node's own folder holds nothing but DuckDB's spill folder.
    assert {p.name for p in (tmp_path / "node").iterdir()} <= {"tmp"}

    # Same store, same results as the embedded default (SQLite catalog, local folder).
    embedded = load_settings(home=tmp_path / "embedded", **SMALL_DEMO)
    jobs.sync(embedded, trigger="cli")
    jobs.refresh(embedded, trigger="cli", as_of=AS_OF)
    assert _rows(settings) == _rows(embedded)
    pipeline.close(embedded)


def test_resync_of_the_same_store_changes_nothing(deployment):
    settings = deployment.settings("node")
    jobs.sync(settings, trigger="cli")
    before = pipeline.snapshot_ids(settings)
    again = jobs.sync(settings, trigger="cli")
    assert again["counts"]["rows_written"] == 0
    assert pipeline.snapshot_ids(settings) == before


def test_a_failed_run_is_recorded_in_the_bucket_and_frees_the_lock(deployment):
    settings = deployment.settings("node", sync_source="files", sync_path=f"s3://{deployment.bucket}/missing/")
    with pytest.raises(Exception):
        jobs.sync(settings, trigger="cli")
    [record] = telemetry(settings).list()
    assert record["status"] == "failed" and record["error"]
    from perftiers.metadata import locks

    assert locks.current_holder(engine_for(settings.resolved_database_url)) is None


def test_a_node_whose_data_folder_cannot_be_written_still_runs_the_pipeline(deployment, tmp_path):
    """With every part on servers nothing is written locally but DuckDB's spill files, which fall
    back to the system temp folder (a read-only container)."""
    blocker = tmp_path / "read-only"
    blocker.write_text("a file: nothing can be created below it")
    settings = deployment.settings("node", home=blocker / "home")
    assert jobs.sync(settings, trigger="cli")["status"] == "succeeded"
    assert jobs.refresh(settings, trigger="cli", as_of=AS_OF)["status"] == "succeeded"
    assert telemetry(settings).list()[0]["status"] == "succeeded"


def test_old_snapshots_and_their_files_go_from_the_bucket(deployment):
    """Table upkeep works on object storage: with no retention, after a second refresh only the
    current snapshot and the files it references are left under `measurement/performance/`."""
    pytest.importorskip("perftiers.lakehouse.maintenance", reason="orphan-file removal is not built yet")
    settings = deployment.settings("node", snapshot_retention_hours=0)
    jobs.sync(settings, trigger="cli")
    jobs.refresh(settings, trigger="cli", as_of=AS_OF)
    first = {k for k in deployment.s3_keys("warehouse/measurement") if "/data/" in k and not k.endswith("/")}
    pipeline.set_spec(settings, banana_count=7)
    jobs.refresh(settings, trigger="cli", as_of=AS_OF)
    table = catalog.load(settings, catalog.PERFORMANCE)
    assert len(table.snapshots()) == 1
    live = {f.file.file_path.split(f"s3://{deployment.bucket}/", 1)[1] for f in table.scan().plan_files()}
    data = {k for k in deployment.s3_keys("warehouse/measurement/performance/")
            if "/data/" in k and not k.endswith("/")}  # PyArrow's empty "folder/" markers aside
    assert data == live
    assert not first & data  # the first refresh's files are gone, not just unreferenced
