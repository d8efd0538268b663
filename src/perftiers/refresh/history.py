"""`measurement.tier_history`: each product's tier state over time, as periods.

In:  the history that agrees with the served `measurement.performance` (see `pair`), and the
     newly classified performance rows of a refresh for reference date D.
Out: the history with the periods that changed at D closed (`valid_to = D`) and new ones opened
     (`valid_from = D`, `valid_to` NULL), written in ONE overwrite commit (row-level deletes
     would leave a delete file per refresh).

Rules:
- a rerun for the same D first undoes D (periods opened on or after D go, periods closed on or
  after D reopen), then applies it again: same input, same history;
- a refresh for a date before the last refreshed date is refused (`perftiers history backfill`
  computes past days);
- products missing from the new performance rows close their period at D.

Consistency without multi-table commits: the history is written first, then performance; each
history snapshot names the performance run it agrees with (`perftiers.performance_run`).
Readers take the performance snapshot and the history snapshot that names its run (time travel),
so a crash between the two commits leaves a newer history nobody reads until the rerun replaces
it. The paired snapshot is never expired first: history snapshots are expired only by a refresh
or backfill after it has committed a new pair (`lakehouse.maintenance` keeps the current one).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.table import Table

from perftiers import duck, faults, rules
from perftiers.errors import Conflict
from perftiers.lakehouse import catalog, schemas
from perftiers.settings import Settings

RUN_ID = "perftiers.run_id"
AS_OF = "perftiers.as_of"
PREVIOUS_AS_OF = "perftiers.previous_as_of"
PERFORMANCE_RUN = "perftiers.performance_run"
KIND = "perftiers.history_kind"
MANUAL_PREFIX = "manual-"
NO_PERFORMANCE = "none"
"""`perftiers.performance_run` of a history written while performance had no snapshot (a backfill)."""

STATE_COLUMNS = ("is_top_riser", "is_winner", "is_banana", "is_archive", "nominal_classification", "spec_version")
"""What a period holds constant: a change of any of these starts a new period."""
HISTORY_COLUMNS = tuple(schemas.TIER_HISTORY.names)


@dataclass(frozen=True)
class Pair:
    """The snapshots a reader takes together (None: table empty, absent, or no history yet)."""

    performance: int | None
    history: int | None
    daily_sales: int | None
    as_of: date | None
    """Reference date of the last refresh the history includes."""
    previous_as_of: date | None
    """Reference date of the refresh before that one (distinct date), None if there was none."""
    run: str | None = None
    """The refresh run behind the performance snapshot (None: unknown)."""


def _summary(snapshot: Any) -> Any:
    return snapshot.summary if snapshot is not None and snapshot.summary is not None else {}


def _newest(table: Table | None, key: str, value: str | None) -> Any:
    """The newest snapshot whose summary has `key == value`."""
    if table is None or value is None:
        return None
    found = [s for s in table.snapshots() if _summary(s).get(key) == value]
    return max(found, key=lambda s: (s.sequence_number or 0, s.timestamp_ms)) if found else None


def _refresh_run(perf: Table | None) -> tuple[str | None, bool]:
    """The refresh run behind the current performance snapshot, and whether that is certain.

    A manual edit's snapshot names its own run id; its parents lead back to the refresh unless
    they have expired (then: not certain)."""
    if perf is None:
        return None, True
    snap = perf.current_snapshot()
    while snap is not None:
        run = _summary(snap).get(RUN_ID)
        if run is not None and not run.startswith(MANUAL_PREFIX):
            return run, True
        parent = snap.parent_snapshot_id
        snap = perf.snapshot_by_id(parent) if parent is not None else None
    return None, perf.current_snapshot() is None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def pair(settings: Settings) -> Pair:
    """The current performance snapshot and the history / daily_sales snapshots written with it."""
    perf = catalog.load_existing(settings, catalog.PERFORMANCE)
    history = catalog.load_existing(settings, catalog.TIER_HISTORY)
    daily = catalog.load_existing(settings, catalog.DAILY_SALES)
    run, certain = _refresh_run(perf)
    snap = _newest(history, PERFORMANCE_RUN, run or NO_PERFORMANCE)
    if snap is None and not certain and history is not None:
        snap = history.current_snapshot()  # edits whose refresh snapshot expired: the newest history
    daily_snap = _newest(daily, RUN_ID, run) or (daily.current_snapshot() if daily is not None else None)
    props = _summary(snap)
    return Pair(catalog.current_snapshot_id(perf), snap.snapshot_id if snap is not None else None,
                daily_snap.snapshot_id if daily_snap is not None else None,
                _day(props.get(AS_OF)), _day(props.get(PREVIOUS_AS_OF)), run)


def read(settings: Settings, snapshot_id: int | None) -> pa.Table:
    """The history rows at `snapshot_id` (an empty table for None)."""
    if snapshot_id is None:
        return schemas.TIER_HISTORY.empty_table()
    table = catalog.load(settings, catalog.TIER_HISTORY)
    return schemas.conform(table.scan(snapshot_id=snapshot_id).to_arrow(), schemas.TIER_HISTORY)


def check_refresh_date(settings: Settings, as_of: date, current: Pair | None = None) -> Pair:
    """Refuse a refresh for a day before the last refreshed one (before anything is computed)."""
    current = current or pair(settings)
    if current.as_of is not None and as_of < current.as_of:
        raise Conflict(
            f"refusing to refresh as of {as_of.isoformat()}: the last refresh was as of "
            f"{current.as_of.isoformat()} and the tier history only moves forward; "
            f"use `perftiers history backfill --from {as_of.isoformat()}` to compute past days",
            details={"as_of": as_of.isoformat(), "last_as_of": current.as_of.isoformat()},
        )
    return current


def _state_differs(a: str, b: str) -> str:
    return " OR ".join(f"{a}.{c} IS DISTINCT FROM {b}.{c}" for c in STATE_COLUMNS)


def apply_day_sql(previous: str, current: str) -> str:
    """The history after a refresh for `$d`: `previous` history, `current` classified rows.

    First undo `$d` and later days (a rerun), then close the open periods whose state changed or
    whose product is gone, and open a period for every product without an open period in its state.
    The join is on artifact_id alone (one current row per product; only open periods read it): a
    `valid_to IS NULL` in its ON clause made DuckDB join by nested loop (52 s instead of 0.1 s at
    100k products with a year of history).
    """
    columns = ", ".join(HISTORY_COLUMNS)
    state = ", ".join(STATE_COLUMNS)
    return f"""
        WITH kept AS (
            SELECT * REPLACE (CASE WHEN valid_to >= $d THEN NULL ELSE valid_to END AS valid_to)
            FROM {previous} WHERE valid_from < $d
        ),
        now_ AS (SELECT artifact_id, {state} FROM {current}),
        closed AS (
            SELECT k.* REPLACE (
                       CASE WHEN k.valid_to IS NULL AND (n.artifact_id IS NULL OR {_state_differs('k', 'n')})
                            THEN CAST($d AS DATE) ELSE k.valid_to END AS valid_to)
            FROM kept k LEFT JOIN now_ n ON n.artifact_id = k.artifact_id
        ),
        opened AS (
            SELECT n.artifact_id, CAST($d AS DATE) AS valid_from, CAST(NULL AS DATE) AS valid_to,
                   {', '.join(f'n.{c}' for c in STATE_COLUMNS)}, false AS backfilled
            FROM now_ n
            WHERE NOT EXISTS (SELECT 1 FROM closed c WHERE c.artifact_id = n.artifact_id AND c.valid_to IS NULL)
        )
        SELECT {columns} FROM closed
        UNION ALL
        SELECT {columns} FROM opened
        ORDER BY artifact_id, valid_from
    """


def write(settings: Settings, data: pa.Table, props: dict[str, str]) -> int | None:
    """Replace the history with `data` in one overwrite commit; the new snapshot id."""
    table = catalog.load(settings, catalog.TIER_HISTORY)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        with table.transaction() as tx:
            tx.overwrite(schemas.conform(data, schemas.TIER_HISTORY), snapshot_properties=props)
    return catalog.current_snapshot_id(table.refresh())


def record_refresh(settings: Settings, run_id: str, as_of: date, performance: pa.Table,
                   current: Pair | None = None) -> int | None:
    """Fold the refresh's classified rows for `as_of` into the history (one commit); its snapshot id.

    Called before performance is written (see the module docstring)."""
    current = check_refresh_date(settings, as_of, current)
    previous = read(settings, current.history)
    con = duck.connect(settings)
    try:
        con.register("previous_history", previous)
        con.register("current_rows", performance.select(["artifact_id", *STATE_COLUMNS]))
        data = con.execute(apply_day_sql("previous_history", "current_rows"), {"d": as_of}).to_arrow_table()
    finally:
        con.close()
    if current.as_of is None:
        previous_as_of = None
    elif as_of == current.as_of:
        previous_as_of = current.previous_as_of
    else:
        previous_as_of = current.as_of
    props = {RUN_ID: run_id, AS_OF: as_of.isoformat(), PERFORMANCE_RUN: run_id, KIND: "refresh"}
    if previous_as_of is not None:
        props[PREVIOUS_AS_OF] = previous_as_of.isoformat()
    snapshot_id = write(settings, data, props)
    faults.point("history:written")
    return snapshot_id


def state_on_sql(history: str, day: str = "?") -> str:
    """Each product's history row in force on `day` (a bound parameter or SQL expression)."""
    return (f"SELECT * FROM {history} WHERE valid_from <= {day} "
            f"AND (valid_to IS NULL OR {day} < valid_to)")


def state_on(con: duckdb.DuckDBPyConnection, history: str, day: date) -> dict[str, dict[str, Any]]:
    """{artifact_id: state} on `day` (tests and the CLI)."""
    rows = con.execute(state_on_sql(history), [day, day]).to_arrow_table().to_pylist()
    return {r["artifact_id"]: {c: r[c] for c in STATE_COLUMNS} for r in rows}


def moves(settings: Settings, previous_snapshot: int | None, performance: pa.Table) -> list[dict[str, Any]]:
    """Products whose tier flags this refresh changes, for alerts: artifact_id, product_name and
    the tiers it `entered` and `left`, against the open periods of the history the refresh started
    from (`previous_snapshot`, i.e. `Pair.history`). A rerun for the same day moves nothing again;
    the first refresh (no history yet) is the baseline and moves nothing; a product gone from the
    rows leaves its tiers."""
    if previous_snapshot is None:
        return []

    def flags(when: str) -> str:
        return ", ".join(f"CASE WHEN {when.format(flag=f)} THEN '{tier}' END" for tier, f in rules.FLAG_OF_TIER.items())

    entered = flags("coalesce(n.{flag}, false) AND NOT coalesce(p.{flag}, false)")
    left = flags("coalesce(p.{flag}, false) AND NOT coalesce(n.{flag}, false)")
    con = duck.connect(settings)
    try:
        con.register("previous_history", read(settings, previous_snapshot))
        con.register("current_rows", performance.select(["artifact_id", "product_name", *rules.FLAG_OF_TIER.values()]))
        return con.execute(f"""
            SELECT * FROM (
                SELECT coalesce(n.artifact_id, p.artifact_id) AS artifact_id, n.product_name,
                       list_filter([{entered}], x -> x IS NOT NULL) AS entered,
                       list_filter([{left}], x -> x IS NOT NULL) AS "left"
                FROM (SELECT * FROM previous_history WHERE valid_to IS NULL) p
                FULL OUTER JOIN current_rows n ON n.artifact_id = p.artifact_id
            ) WHERE len(entered) > 0 OR len("left") > 0
            ORDER BY artifact_id
        """).to_arrow_table().to_pylist()
    finally:
        con.close()
