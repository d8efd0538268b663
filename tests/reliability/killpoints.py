"""Deterministic crash points: `perftiers sync` / `refresh` / `history backfill` killed with SIGKILL at every point of a run.

The tests that use this live in tests/test_crash.py (beside the timing-based kills).

An uninterrupted run is traced first (`PERFTIERS_TEST_TRACE`, see `perftiers.faults`): the list of
points it passes (lock taken, telemetry written, each progress step, before / after every Iceberg
commit and metadata write, each file the cleanup deletes, lock released, ...). Then the same run,
from the same starting folder, is killed at each of those points (`PERFTIERS_TEST_KILL_AT`), and:

- every table loads and scans, and holds exactly the rows of before the run or of after the
  uninterrupted run (a reader never sees a half-written table);
- a lock left by the killed process is free again within its lease;
- the killed run's telemetry record says `running` (never `succeeded`, unless the kill came after
  the run recorded its success), and the next run rewrites it as `failed` ("Interrupted");
- a rerun succeeds and leaves the tables equal to the uninterrupted run's (refreshed_at aside).
"""

from __future__ import annotations

import shutil
import time

import sqlalchemy as sa
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from perftiers.lakehouse import catalog
from perftiers.metadata import locks
from perftiers.metadata.db import engine_for, job_lock
from perftiers.pipeline import jobs
from perftiers.pipeline.runs import telemetry
from tests.pipeline import close
from tests.reliability.helpers import cli_env, run_cli, same, settings_for, table_state

LEASE = 5
WORKERS = 4
RAW = (catalog.PRODUCTS, catalog.ORDER_LINES)
MART = (catalog.DAILY_SALES, catalog.TIER_HISTORY, catalog.PERFORMANCE)
BASE = {"lock_lease_seconds": LEASE, "snapshot_retention_hours": 0}
"""Retention 0: every run also expires the snapshots it replaced and deletes their files, so
the cleanup's points are killed too."""
AFTER_SUCCESS = {"run:final-record", "run:lock-released"}


@dataclass
class Scenario:
    """A starting folder (built once per worker), a run, and the tables before and after it."""

    name: str
    kind: str
    prepare: Callable[[Any], None]
    args: list[str]
    settings: dict[str, Any]
    as_of: date | None = None
    rerun: Callable[[Any], dict] | None = None
    """The run again, in process (default: `jobs.sync` or `jobs.refresh` as of `as_of`)."""
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    trace: list[str] = field(default_factory=list)

    def settings_at(self, home: Path):
        return settings_for(home, **BASE, **self.settings)

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env({**BASE, **self.settings}, **extra)


class Workspace:
    """A data folder at a fixed path plus a pristine copy to restore it from (paths inside the
    catalog are absolute, so a folder is only ever restored in place, never moved)."""

    def __init__(self, root: Path, scenario: Scenario):
        self.home, self.pristine, self.scenario = root / "data", root / "pristine", scenario
        self.known_runs: set[str] = set()
        settings = scenario.settings_at(self.home)
        settings.home.mkdir(parents=True)
        scenario.prepare(settings)
        close(settings)
        shutil.copytree(self.home, self.pristine)

    def restore(self) -> None:
        close(self.scenario.settings_at(self.home))
        shutil.rmtree(self.home)
        shutil.copytree(self.pristine, self.home)


def tables(settings, idents=RAW + MART) -> dict:
    try:
        return {ident: table_state(settings, ident) for ident in idents}
    finally:
        close(settings)


def kill_points(trace: list[str], limit_repeats: int = 3) -> list[tuple[str, int]]:
    """Every (point, n) of the trace; a point passed many times is killed at its first, middle, last."""
    counts = Counter(trace)
    out = []
    for name in dict.fromkeys(trace):
        n = counts[name]
        picks = range(1, n + 1) if n <= limit_repeats else sorted({1, (n + 1) // 2, n})
        out += [(name, i) for i in picks]
    return out


def check_kill(ws: Workspace, point: tuple[str, int]) -> str:
    scenario = ws.scenario
    ws.restore()
    settings = scenario.settings_at(ws.home)
    name, n = point
    result = run_cli(ws.home, scenario.args, scenario.env(PERFTIERS_TEST_KILL_AT=f"{name}:{n}"))
    killed_at = datetime.now(timezone.utc)  # at or after the kill
    assert result.killed, f"{point}: not killed (exit {result.returncode}):\n{result.output[-2000:]}"

    # Every table loads at a committed snapshot and holds the rows of before or after the run.
    now = tables(settings)
    for ident, state in now.items():
        assert same(state, scenario.before[ident]) or same(state, scenario.after[ident]), (
            f"{point}: {catalog.table_name(ident)} is neither the old nor the new table")

    # Performance and the tier history a reader pairs with it agree (no multi-table commit: see
    # refresh.history), whichever of the two commits the kill came between.
    history_agrees(settings, point)

    # The killed run's record: running (or succeeded, once it recorded success); never failed.
    tel = telemetry(settings)
    records = [r for r in tel.list(limit=20) if r["kind"] == scenario.kind]
    killed = records[0] if records and records[0]["run_id"] not in ws.known_runs else None
    if name == "run:lock-taken":
        assert killed is None, f"{point}: a record was written before the kill point"
    else:
        assert killed is not None, f"{point}: the killed run left no telemetry record"
        if name in AFTER_SUCCESS:
            assert killed["status"] == "succeeded"
            assert all(same(now[i], scenario.after[i]) for i in now), f"{point}: success recorded, tables not"
        else:
            assert killed["status"] == "running", (point, killed)

    # A lock left behind blocks for at most its lease. Read from the lock row, not by the clock: the
    # checks above can take longer than the 5 s lease on a loaded machine (fresh-clone run f1).
    db = engine_for(settings.resolved_database_url)
    with db.connect() as conn:
        row = conn.execute(sa.select(job_lock.c.holder, job_lock.c.expires_at)
                           .where(job_lock.c.name == locks.PIPELINE)).first()
    if name != "run:lock-released":
        assert row is not None, f"{point}: the killed run's lock vanished"
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
        assert expires <= killed_at + timedelta(seconds=LEASE + 1), f"{point}: the lock outlives its lease"
        deadline = time.monotonic() + LEASE + 60  # a guard against a hang, not a timing check
        while locks.current_holder(db) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
    else:
        assert row is None, f"{point}: the lock was not released"

    # The rerun succeeds, closes the dead record, and ends where the uninterrupted run ended.
    if scenario.rerun is not None:
        record = scenario.rerun(settings)
    elif scenario.kind == "sync":
        record = jobs.sync(settings, trigger="cli")
    else:
        record = jobs.refresh(settings, trigger="cli", as_of=scenario.as_of)
    assert record["status"] == "succeeded"
    if killed is not None and name not in AFTER_SUCCESS:
        closed = tel.get(killed["run_id"])
        assert closed["status"] == "failed" and closed["error"].startswith("Interrupted"), closed
    rerun = tables(settings)
    for ident, state in rerun.items():
        assert same(state, scenario.after[ident]), f"{point}: rerun differs in {catalog.table_name(ident)}"
    history_agrees(settings, point)
    try:
        spec = catalog.load(settings, catalog.ORDER_LINES).spec()
        assert [f.name for f in spec.fields] == ["ordered_month"], f"{point}: raw.order_lines lost its partitioning"
    finally:
        close(settings)
    return name


def history_agrees(settings, point) -> None:
    """The history paired with the current performance snapshot holds, on its reference date,
    exactly the performance rows' flags, nominal tier and spec version."""
    from perftiers import duck
    from perftiers.refresh import history

    try:
        p = history.pair(settings)
        if p.performance is None:
            return
        perf = catalog.load(settings, catalog.PERFORMANCE).scan(snapshot_id=p.performance).to_arrow().to_pylist()
        if not perf:
            return
        as_of = perf[0]["as_of"]
        assert p.as_of == as_of, f"{point}: performance is as of {as_of}, its history as of {p.as_of}"
        con = duck.connect(settings)
        try:
            con.register("h", history.read(settings, p.history))
            got = history.state_on(con, "h", as_of)
        finally:
            con.close()
        want = {r["artifact_id"]: {c: r[c] for c in history.STATE_COLUMNS} for r in perf}
        assert got == want, f"{point}: performance and its tier history disagree"
    finally:
        close(settings)


def run_scenario(tmp_path: Path, scenario: Scenario,
                 select: Callable[[tuple[str, int]], bool] = lambda point: True) -> set:
    """Trace an uninterrupted run, then kill one at each point; returns the (point, n) killed."""
    with ThreadPoolExecutor(WORKERS) as pool:
        spaces = list(pool.map(lambda i: Workspace(tmp_path / f"{scenario.name}-{i}", scenario), range(WORKERS)))
    first = spaces[0]
    scenario.before = tables(scenario.settings_at(first.home))
    for ws in spaces:
        ws.known_runs = {r["run_id"] for r in telemetry(scenario.settings_at(ws.home)).list(limit=50)}

    trace = first.home.parent / "trace.txt"
    result = run_cli(first.home, scenario.args, scenario.env(PERFTIERS_TEST_TRACE=str(trace)))
    assert result.returncode == 0, result.output
    scenario.trace = trace.read_text().splitlines()
    scenario.after = tables(scenario.settings_at(first.home))
    assert any(not same(scenario.before[i], scenario.after[i]) for i in scenario.before), "the run changed nothing"

    points = [p for p in kill_points(scenario.trace) if select(p)]
    queue = list(points)
    with ThreadPoolExecutor(WORKERS) as pool:
        def worker(ws: Workspace) -> list[str]:
            done = []
            while queue:
                try:
                    point = queue.pop(0)
                except IndexError:
                    break
                try:
                    done.append(check_kill(ws, point))
                except BaseException:
                    queue.clear()  # fail fast: the other workers stop too
                    raise
            return done

        list(pool.map(worker, spaces))
    print(f"{scenario.name}: {len(points)} kill points, {len(set(scenario.trace))} distinct point names")
    return set(points)


def sync_at(end_date: str) -> Callable[[Any], None]:
    """A `prepare` step: sync the demo store as it was on `end_date`."""
    def prepare(settings) -> None:
        jobs.sync(settings.model_copy(update={"demo_end_date": date.fromisoformat(end_date)}), trigger="cli")

    return prepare


def sync_and_refresh(*days: date) -> Callable[[Any], None]:
    """A `prepare` step: sync the demo store, then refresh as of each day."""
    def prepare(settings) -> None:
        jobs.sync(settings, trigger="cli")
        for day in days:
            jobs.refresh(settings, trigger="cli", as_of=day)

    return prepare
