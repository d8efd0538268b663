"""`measurement.daily_sales` for a refresh: rebuilt from every order line, or only the changed days.

A daily refresh needs the days the syncs since the last refresh changed (`metadata.sales_changes`)
and the days its reference date moved on by; every other row of the last refresh's daily sales
still holds. So the refresh recomputes those days from the raw lines and keeps the rest, which
takes the pass over every order line out of the daily refresh. The result is the same table a full
rebuild gives (tests/test_incremental_refresh.py checks it against random syncs and edits).

A full rebuild happens when asked (`perftiers refresh --full`) and whenever the kept rows cannot
be trusted: no earlier refresh state, `measurement.daily_sales` changed since the last refresh
wrote it, the store timezone or currency changed, the daily-sales rule changed (its SQL is
fingerprinted), days were recorded in another timezone, or the reference date went back.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from pyiceberg.expressions import In

from perftiers import duck, rules
from perftiers.lakehouse import catalog, scan, schemas
from perftiers.metadata import artifacts, sales_changes
from perftiers.settings import Settings

STATE_KEY = "daily_sales"
"""Where a `mart_refresh` artifact keeps the state the next refresh compares against."""

RULE_FINGERPRINT = hashlib.sha256(rules.daily_sales_sql("order_lines").encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    days: frozenset[date] | None
    """The days to recompute; None: rebuild from every line."""
    reason: str
    """Why a full rebuild (empty for an incremental one)."""
    base_snapshot: int | None
    """The `measurement.daily_sales` snapshot whose other days are kept."""
    changes: sales_changes.Changes

    @property
    def mode(self) -> str:
        return "full" if self.days is None else "incremental"


def choose(settings: Settings, engine: sa.Engine, as_of: date, *, full: bool = False) -> Plan:
    """How this refresh builds daily sales, from the last refresh's state and the recorded changes."""
    changes = sales_changes.pending(engine)
    last = artifacts.latest(engine, artifacts.MART_REFRESH)
    state: dict[str, Any] = (last.body.get(STATE_KEY) or {}) if last is not None else {}
    table = catalog.load_existing(settings, catalog.DAILY_SALES)
    current = catalog.current_snapshot_id(table) if table is not None else None
    last_as_of = date.fromisoformat(state["as_of"]) if state.get("as_of") else None

    def rebuild(reason: str) -> Plan:
        return Plan(None, reason, None, changes)

    if full:
        return rebuild("asked for (--full)")
    if not state or current is None:
        return rebuild("no earlier daily sales to build on")
    if state.get("snapshot_id") != current:
        return rebuild("measurement.daily_sales changed since the last refresh wrote it")
    if state.get("timezone") != settings.timezone:
        return rebuild(f"the store timezone changed ({state.get('timezone')} -> {settings.timezone})")
    if state.get("currency") != settings.currency:
        return rebuild(f"the store currency changed ({state.get('currency')} -> {settings.currency})")
    if state.get("rule") != RULE_FINGERPRINT:
        return rebuild("the daily-sales rule changed")
    if changes.timezones - {settings.timezone}:
        return rebuild("a sync recorded days in another timezone")
    if last_as_of is None or as_of < last_as_of:
        return rebuild("the reference date is before the last refresh's")
    moved_on = {last_as_of + timedelta(days=n) for n in range(1, (as_of - last_as_of).days + 1)}
    days = frozenset(d for d in changes.days | moved_on if d <= as_of)
    return Plan(days, "", current, changes)


def build(con: duckdb.DuckDBPyConnection, settings: Settings, plan: Plan, as_of: date, columns: tuple[str, ...]) -> int:
    """Create the DuckDB relation `daily_sales` (DAILY_SALES rows up to `as_of`) as `plan` says,
    and `fresh_daily_sales`, the rows computed from order lines; returns how many days those cover."""
    params = {"tz": settings.timezone, "as_of": as_of}
    lines = catalog.load(settings, catalog.ORDER_LINES)
    relation = scan.parquet_relation(lines, columns)
    if relation is not None:  # DuckDB reads the data files itself: all cores, no Arrow hand-over
        con.execute(f"CREATE VIEW all_lines AS SELECT * FROM {relation}")
    else:
        con.register("all_lines", lines.scan(selected_fields=columns).to_arrow_batch_reader())
    try:
        if plan.days is None:
            con.execute(f"CREATE TABLE fresh_daily_sales AS {rules.daily_sales_sql('all_lines')}", params)
            con.execute("CREATE VIEW daily_sales AS SELECT * FROM fresh_daily_sales")
            return con.execute("SELECT COUNT(DISTINCT day) FROM fresh_daily_sales").fetchone()[0]
        _recompute_days(con, settings, plan, params)
        return len(plan.days)
    finally:
        if relation is not None:
            con.execute("DROP VIEW all_lines")
        else:
            con.unregister("all_lines")


def _recompute_days(con: duckdb.DuckDBPyConnection, settings: Settings, plan: Plan, params: dict[str, Any]) -> None:
    """`fresh_daily_sales`: the touched days from the lines; `daily_sales`: those and the base
    snapshot's rows of every other day."""
    days = sorted(plan.days or ())
    con.execute("CREATE TABLE touched_days (day DATE PRIMARY KEY)")
    if days:
        con.executemany("INSERT INTO touched_days VALUES (?)", [(d,) for d in days])
        # A store-local day lies within a day of its UTC date (offsets are under 24 h): the range
        # lets DuckDB skip row groups by their min/max before the exact store-local test.
        params = {**params, "lo": _midnight(days[0] - timedelta(days=1)), "hi": _midnight(days[-1] + timedelta(days=2))}
        touched = (f"(SELECT * FROM all_lines WHERE ordered_at >= $lo AND ordered_at < $hi "
                   f"AND {rules.local_day_sql('ordered_at')} IN (SELECT day FROM touched_days))")
        con.execute(f"CREATE TABLE fresh_daily_sales AS {rules.daily_sales_sql(touched)}", params)
    else:
        con.execute(f"CREATE TABLE fresh_daily_sales ({duck.ddl(schemas.DAILY_SALES)})")
    kept = _kept_rows(con, settings, plan.base_snapshot)
    con.execute(f"CREATE VIEW daily_sales AS SELECT * FROM {kept} WHERE day NOT IN (SELECT day FROM touched_days) "
                f"UNION ALL SELECT * FROM fresh_daily_sales")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), timezone.utc)


def _kept_rows(con: duckdb.DuckDBPyConnection, settings: Settings, snapshot_id: int | None) -> str:
    """A relation of the daily sales at `snapshot_id`: its Parquet files, else a PyIceberg read."""
    table = catalog.load(settings, catalog.DAILY_SALES)
    relation = scan.parquet_relation(table, schemas.DAILY_SALES.names, snapshot_id)
    if relation is not None:
        return relation
    con.register("kept_daily_sales", table.scan(snapshot_id=snapshot_id).to_arrow())
    return "kept_daily_sales"


def rows_to_write(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The rows this refresh computed, in the table's order (by product, then day)."""
    rows = con.execute("SELECT * FROM fresh_daily_sales ORDER BY artifact_id, day").to_arrow_table()
    return schemas.conform(rows, schemas.DAILY_SALES)


def write(settings: Settings, plan: Plan, rows: pa.Table, props: dict[str, str]) -> int | None:
    """One commit: a full rebuild replaces every row; an incremental one replaces the touched days'
    rows (files of other months are kept as they are). Returns the snapshot id."""
    table = catalog.load(settings, catalog.DAILY_SALES)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        if plan.days is None:
            with table.transaction() as tx:
                tx.overwrite(rows, snapshot_properties=props)
        elif plan.days:
            with table.transaction() as tx:
                tx.delete(In("day", sorted(plan.days)), snapshot_properties=props)
                if rows.num_rows:
                    tx.append(rows, snapshot_properties=props)
    return catalog.current_snapshot_id(table.refresh())


def state(settings: Settings, as_of: date, snapshot_id: int | None) -> dict[str, Any]:
    """What the next refresh needs to know about the daily sales this one wrote."""
    return {STATE_KEY: {"snapshot_id": snapshot_id, "as_of": as_of.isoformat(), "timezone": settings.timezone,
                        "currency": settings.currency, "rule": RULE_FINGERPRINT}}
