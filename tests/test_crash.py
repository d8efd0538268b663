"""SIGKILL a real `perftiers sync` / `perftiers refresh` at several moments, then check the damage.

After each kill: every table loads and scans and holds either its previous contents or the
complete new ones (never a half-written table); the pipeline lock is free or expires within its
lease; telemetry never calls the killed run succeeded unless it had in fact finished. Finally a
rerun leaves exactly the tables an uninterrupted run makes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from perftiers.lakehouse import catalog
from perftiers.metadata import locks
from perftiers.metadata.db import engine_for, job_lock
from perftiers.pipeline.runs import telemetry
from perftiers.settings import load_settings

from tests.pipeline import close

pytestmark = pytest.mark.slow

LEASE = 5
AS_OF = "2024-06-30"
ENV = {
    "PERFTIERS_LOCK_LEASE_SECONDS": str(LEASE),
    "PERFTIERS_DEMO_PRODUCTS": "300",
    "PERFTIERS_DEMO_ORDER_LINES": "100000",
    "PERFTIERS_DEMO_END_DATE": AS_OF,
    "PERFTIERS_DEMO_SEED": "7",
}
SYNC_KILLS = (0.0, 0.3, 0.6, 0.9)
REFRESH_KILLS = (0.0, 0.2, 0.4, 0.6, 0.8)
"""Kill delays, as fractions of an uninterrupted run's working time (its `duration_ms`), counted
from the moment the run's `running` telemetry record appears (start-up and exit take longer than
the work itself on a small store, and change nothing)."""

KEYS = {
    catalog.PRODUCTS: ["artifact_id"],
    catalog.ORDER_LINES: ["line_id"],
    catalog.DAILY_SALES: ["artifact_id", "day"],
    catalog.PERFORMANCE: ["artifact_id"],
    catalog.TIER_HISTORY: ["artifact_id", "valid_from"],
}
VOLATILE = {catalog.PERFORMANCE: ["refreshed_at"]}
RAW = (catalog.PRODUCTS, catalog.ORDER_LINES)
MART = (catalog.DAILY_SALES, catalog.TIER_HISTORY, catalog.PERFORMANCE)


def command() -> list[str]:
    script = Path(sys.executable).with_name("perftiers")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from perftiers.cli import app; app()"]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFTIERS_")}
    return {**env, **ENV}


def cli_args(kind: str) -> list[str]:
    return ["sync", "--source", "demo"] if kind == "sync" else ["refresh", "--as-of", AS_OF]


def start(home: Path, kind: str) -> subprocess.Popen:
    return subprocess.Popen([*command(), "--data-dir", str(home), *cli_args(kind)], env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def telemetry_files(home: Path) -> set[str]:
    folder = home / "objects" / "sync" / "telemetry"
    return {p.name for p in folder.glob("*.json")} if folder.exists() else set()


def wait_for_new_record(proc: subprocess.Popen, home: Path, before: set[str]) -> bool:
    """Wait until the run has written its `running` record; False if the process ended first."""
    while not telemetry_files(home) - before:
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return True


def run_to_end(home: Path, kind: str) -> float:
    """Run to completion; the job's working time in seconds (`duration_ms` of its record)."""
    before = set(records(home)) if home.exists() else set()
    proc = start(home, kind)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output.decode(errors="replace")
    (record,) = [r for run_id, r in records(home).items() if run_id not in before]
    close(load_settings(home=home))
    return record["duration_ms"] / 1000


def contents(home: Path, ident) -> pa.Table | None:
    """The table's rows in key order without volatile columns; None when the table has no data."""
    settings = load_settings(home=home)
    table = catalog.load_existing(settings, ident)
    if table is None:
        return None
    data = table.scan().to_arrow()  # loads and scans: every data file the snapshot names is there
    if data.num_rows == 0:
        return None
    data = data.drop_columns(VOLATILE.get(ident, []))
    return data.sort_by([(k, "ascending") for k in KEYS[ident]])


def records(home: Path) -> dict[str, dict]:
    return {r["run_id"]: r for r in telemetry(load_settings(home=home)).list(limit=1000)}


def lock_row(home: Path):
    engine = engine_for(load_settings(home=home).resolved_database_url)
    with engine.connect() as conn:
        return conn.execute(sa.select(job_lock)).first()


def check_lock_expires(home: Path, killed_at: datetime) -> None:
    row = lock_row(home)
    engine = engine_for(load_settings(home=home).resolved_database_url)
    if row is not None:
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
        assert expires <= killed_at + timedelta(seconds=LEASE + 0.5), (row, killed_at)
    deadline = time.monotonic() + LEASE + 2
    while locks.current_holder(engine) is not None:
        assert time.monotonic() < deadline, "the killed run's lock did not expire within its lease"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sync + refresh: its tables and wall times."""
    home = tmp_path_factory.mktemp("reference") / "data"
    work = {"sync": run_to_end(home, "sync"), "refresh": run_to_end(home, "refresh")}
    tables = {ident: contents(home, ident) for ident in KEYS}
    assert all(t is not None and t.num_rows for t in tables.values())
    assert {r["status"] for r in records(home).values()} == {"succeeded"}
    close(load_settings(home=home))
    return tables, work


def kill_and_check(home: Path, kind: str, delay: float, ref_tables, changing, fixed) -> bool:
    """Start a run, SIGKILL it `delay` s after its first record, check the data; True if killed mid-run."""
    seen = set(records(home)) if home.exists() else set()
    before = telemetry_files(home)
    proc = start(home, kind)
    assert wait_for_new_record(proc, home, before), proc.communicate()[0].decode(errors="replace")
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    killed_at = datetime.now(timezone.utc)
    proc.communicate(timeout=60)
    if finished:
        assert proc.returncode == 0

    # every table loads and scans, and is either untouched or complete
    for ident in changing:
        got = contents(home, ident)
        assert got is None or got.equals(ref_tables[ident]), (kind, delay, ident)
    for ident in fixed:
        assert contents(home, ident).equals(ref_tables[ident]), (kind, delay, ident)

    # telemetry: the killed run is running or failed, never succeeded unless it had finished
    new = [r for run_id, r in records(home).items() if run_id not in seen]
    assert len(new) == 1 and new[0]["kind"] == kind
    status = new[0]["status"]
    if status == "succeeded":  # it wrote its final record before the kill arrived: it had finished
        assert all(contents(home, ident).equals(ref_tables[ident]) for ident in changing)
    else:
        assert status in ("running", "failed") and not finished

    check_lock_expires(home, killed_at)
    close(load_settings(home=home))
    return status != "succeeded"


def check_rerun(home: Path, kind: str, ref_tables, idents) -> None:
    run_to_end(home, kind)
    for ident in idents:
        assert contents(home, ident).equals(ref_tables[ident]), (kind, ident)
    history = records(home)
    newest = history[max(history)]
    assert newest["kind"] == kind and newest["status"] == "succeeded"
    assert not any(r["status"] == "running" for r in history.values())  # dead runs were closed
    close(load_settings(home=home))


@pytest.mark.parametrize("fraction", SYNC_KILLS)
def test_a_killed_sync_leaves_consistent_tables_and_the_rerun_matches(tmp_path, reference, fraction):
    ref_tables, work = reference
    home = tmp_path / "data"
    killed = kill_and_check(home, "sync", work["sync"] * fraction, ref_tables, RAW, ())
    check_rerun(home, "sync", ref_tables, RAW)
    if fraction < 0.5:
        assert killed, f"the sync finished within {work['sync'] * fraction:.2f}s: the store is too small"


def test_killed_refreshes_leave_consistent_tables_and_the_rerun_matches(tmp_path, reference):
    ref_tables, work = reference
    home = tmp_path / "data"
    run_to_end(home, "sync")
    killed = [kill_and_check(home, "refresh", work["refresh"] * f, ref_tables, MART, RAW) for f in REFRESH_KILLS]
    assert sum(killed) >= 3, killed
    check_rerun(home, "refresh", ref_tables, (*RAW, *MART))
    # a sync over the same data afterwards changes nothing
    settings = load_settings(home=home)
    snapshots = {ident: catalog.current_snapshot_id(catalog.load_existing(settings, ident)) for ident in RAW}
    run_to_end(home, "sync")
    assert snapshots == {ident: catalog.current_snapshot_id(catalog.load_existing(settings, ident)) for ident in RAW}


# -- Deterministic kill points (perftiers.faults) ------------------------------------------------
# An uninterrupted run is traced, then the same run from the same folder is killed at each point
# it passed: before / after every Iceberg commit and metadata write, each progress step, each file
# the cleanup deletes, the telemetry writes and the lock. The checks are in
# tests/reliability/killpoints.py::check_kill (tables whole, lock within its lease, telemetry
# truthful and closed by the next run, rerun equals the uninterrupted run).

from datetime import date  # noqa: E402

from tests.reliability.killpoints import Scenario, run_scenario, sync_and_refresh, sync_at  # noqa: E402


def test_sync_killed_at_every_point(tmp_path):
    """A sync whose data changed: both raw tables rewritten (overwrite commits), old files deleted."""
    scenario = Scenario("sync", "sync", sync_at("2025-05-31"), ["sync", "--source", "demo"],
                        {"demo_end_date": "2025-06-30"})
    killed = run_scenario(tmp_path, scenario)
    assert len(killed) >= 20, sorted(killed)
    assert {"progress:staging order lines", "iceberg.commit:raw.order_lines:before", "iceberg.metadata:written",
            "maintenance:deleted", "run:lock-released"} <= {name for name, _ in killed}


def test_first_sync_killed_while_creating_tables(tmp_path):
    """The first sync into an empty folder: killed around the commit that creates each table."""
    scenario = Scenario("first-sync", "sync", lambda settings: None, ["sync", "--source", "demo"],
                        {"demo_end_date": "2025-06-30"})
    killed = run_scenario(tmp_path, scenario,
                          select=lambda point: point[0].startswith("iceberg.commit:") and point[1] == 1)
    # the first commit of each table creates it (raw.order_lines with its partition spec, in one commit)
    assert {("iceberg.commit:raw.products:before", 1), ("iceberg.commit:raw.order_lines:after", 1)} <= killed


def test_refresh_killed_at_every_point(tmp_path):
    """A refresh over two earlier ones: both mart tables rewritten, the oldest snapshots expired."""
    scenario = Scenario("refresh", "refresh", sync_and_refresh(date(2025, 6, 1), date(2025, 6, 15)),
                        ["refresh", "--as-of", "2025-06-30"], {"demo_end_date": "2025-06-30"},
                        as_of=date(2025, 6, 30))
    killed = run_scenario(tmp_path, scenario)
    assert len(killed) >= 20, sorted(killed)
    assert {"progress:classifying", "iceberg.commit:measurement.performance:before", "refresh:artifact-written",
            "maintenance:deleted", "run:final-record"} <= {name for name, _ in killed}
    # around the tier history's commit, which comes before performance's (checked by history_agrees)
    assert {"progress:writing measurement.tier_history", "iceberg.commit:measurement.tier_history:before",
            "iceberg.commit:measurement.tier_history:after", "history:written"} <= {name for name, _ in killed}


def test_backfill_killed_at_every_point(tmp_path):
    """`perftiers history backfill` over days already backfilled once (its commit replaces them),
    killed before / after its tier_history commit and the expiry after it; the rerun completes it."""
    from perftiers.pipeline import jobs

    first, last = date(2025, 6, 1), date(2025, 6, 29)

    def prepare(settings) -> None:
        sync_and_refresh(date(2025, 6, 30))(settings)
        jobs.backfill(settings, trigger="cli", start=date(2025, 6, 20), end=last)

    scenario = Scenario("backfill", "backfill", prepare,
                        ["history", "backfill", "--from", first.isoformat(), "--to", last.isoformat()],
                        {"demo_end_date": "2025-06-30"}, as_of=date(2025, 6, 30),
                        rerun=lambda settings: jobs.backfill(settings, trigger="cli", start=first, end=last))
    killed = run_scenario(tmp_path, scenario)
    names = {name for name, _ in killed}
    assert {"progress:computing daily tiers", "progress:writing measurement.tier_history",
            "iceberg.commit:measurement.tier_history:before", "iceberg.commit:measurement.tier_history:after",
            "backfill:written", "maintenance:deleted", "run:final-record"} <= names, sorted(names)
    # the history after the backfill: one period per product and state run, no gap, no overlap
    check_periods(scenario.after[catalog.TIER_HISTORY], first, scenario.as_of)


def check_periods(state, first: date, as_of: date) -> None:
    """Every product's periods tile `first`..`as_of` exactly: no duplicate, missing or overlapping day."""
    from collections import defaultdict

    rows = state if isinstance(state, list) else state.to_pylist()
    by_product = defaultdict(list)
    for r in rows:
        by_product[r["artifact_id"]].append(r)
    assert by_product
    for pid, periods in by_product.items():
        periods.sort(key=lambda r: r["valid_from"])
        covered = [p for p in periods if p["valid_to"] is None or p["valid_to"] > first]
        assert covered[0]["valid_from"] <= first, (pid, "a missing period at the start")
        for a, b in zip(periods, periods[1:]):
            assert a["valid_to"] == b["valid_from"], (pid, "a gap or an overlap", a, b)
        assert periods[-1]["valid_to"] is None and periods[-1]["valid_from"] <= as_of, pid
