"""The mart refresh.

In:  `raw.products`, `raw.order_lines`, the classification_spec in force, manual overrides, the
     days syncs changed since the last refresh (`refresh.daily_sales` recomputes only those).
Out: `measurement.daily_sales` and `measurement.performance`, each replaced in one overwrite
     commit; a `mart_refresh` artifact naming the spec version applied; expired old snapshots
     and their files deleted (`lakehouse.maintenance`).

Metrics and tiers come from `perftiers.rules`; this module only moves data. Its public surface:
`refresh_mart` (the job), `classify` (overrides, then tiers: also used by manual edits),
`write_table` (one overwrite commit) and `today` (the store-local date).
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa

from perftiers import duck, faults, fencing, rules
from perftiers.lakehouse import catalog, maintenance, schemas
from perftiers.metadata import artifacts, overrides, sales_changes, webhooks
from perftiers.refresh import daily_sales, history, overrides_sql
from perftiers.metadata.db import engine_for
from perftiers.runcontext import RunContext
from perftiers.settings import Settings

LINE_COLUMNS = ("order_id", "ordered_at", "artifact_id", "quantity", "refunded_quantity", "unit_price",
                "discount", "cancelled")

MEMORY_LIMIT = "1GB"
"""DuckDB's memory for the refresh; beyond it the daily-sales aggregation spills to the data folder's
`tmp/`. DuckDB's default (80% of RAM) let the refresh of 10M order lines peak at 1.8 GiB RSS; with
1 GB it peaks at 1.3 GiB in the same time, and a larger store spills instead of growing
(docs/benchmarks.md). The refresh may run inside `perftiers serve` (the scheduler), next to the
served tables."""


def today(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


def refresh_mart(ctx: RunContext, as_of: date | None = None, *, full: bool = False) -> dict[str, Any]:
    settings = ctx.settings
    engine = engine_for(settings.resolved_database_url)
    as_of = as_of or today(settings)
    paired = history.check_refresh_date(settings, as_of)  # refuse an older date before any work
    spec_version, spec = artifacts.current_spec(engine)
    refreshed_at = datetime.now(timezone.utc)
    params = {"tz": settings.timezone, "as_of": as_of}

    sales_plan = daily_sales.choose(settings, engine, as_of, full=full)
    con = duck.connect(settings, memory_limit=MEMORY_LIMIT)
    try:
        ctx.progress("reading raw tables", None, None)
        products = catalog.load(settings, catalog.PRODUCTS)
        con.register("products", products.scan().to_arrow())
        ctx.progress("computing daily sales", None, None)
        days_computed = daily_sales.build(con, settings, sales_plan, as_of, LINE_COLUMNS)
        ctx.progress("computing metrics", None, None)
        con.execute(
            f"CREATE TABLE metrics AS SELECT *, 'sync' AS source FROM ({rules.metrics_sql('products', 'daily_sales')})",
            params,
        )
        ctx.progress("classifying", None, None)
        performance = classify(con, "metrics", overrides.load_all(engine), spec=spec, spec_version=spec_version,
                               as_of=as_of, refreshed_at=refreshed_at, tz=settings.timezone)
        daily_rows = con.execute("SELECT COUNT(*) FROM daily_sales").fetchone()[0]
        daily = daily_sales.rows_to_write(con)
        tiers = _tier_counts(con, performance)
        counts = {"products": tiers["total"], **rules.by_summary_field(tiers)}
    finally:
        con.close()

    props = {"perftiers.run_id": ctx.run_id, "perftiers.spec_version": str(spec_version),
             "perftiers.as_of": as_of.isoformat()}
    wanted = webhooks.wants(engine, webhooks.TIER_EVENTS)  # alerts: the tier moves, only if subscribed
    moved = history.moves(settings, paired.history, performance) if wanted else []
    ctx.progress("writing measurement.daily_sales", None, None)
    daily_snapshot = daily_sales.write(settings, sales_plan, daily, props)
    ctx.progress("writing measurement.tier_history", None, None)
    history.record_refresh(settings, ctx.run_id, as_of, performance, paired)  # before performance: see history
    ctx.progress("writing measurement.performance", None, None)
    snapshot_id = write_table(settings, catalog.PERFORMANCE, performance, props)
    fencing.check()
    artifacts.append(
        engine,
        artifacts.MART_REFRESH,
        {"run_id": ctx.run_id, "spec_version": spec_version, "snapshot_id": snapshot_id, "as_of": as_of.isoformat(),
         **daily_sales.state(settings, as_of, daily_snapshot)},
        created_by=ctx.trigger,
        also=lambda conn: webhooks.enqueue_tier_moves(conn, ctx.run_id, as_of, moved, settings.public_url),
    )
    faults.point("refresh:artifact-written")
    sales_changes.consume(engine, sales_plan.changes.upto)
    ctx.progress("expiring old snapshots", None, None)
    for ident in (catalog.PERFORMANCE, catalog.DAILY_SALES, catalog.TIER_HISTORY):
        maintenance.maintain(settings, ident)
    counts["rows_written"] = performance.num_rows + daily.num_rows
    counts["daily_sales_rows"] = daily_rows
    counts["daily_sales_days_computed"] = days_computed
    built = {"mode": sales_plan.mode, **({"reason": sales_plan.reason} if sales_plan.reason else {})}
    return {"counts": counts, "spec_version": spec_version, "snapshot_id": snapshot_id, "as_of": as_of.isoformat(),
            "daily_sales": built}


def _tier_counts(con: duckdb.DuckDBPyConnection, performance) -> dict[str, int]:
    con.register("performance_arrow", performance)
    try:
        return rules.tier_counts(con, "performance_arrow")
    finally:
        con.unregister("performance_arrow")


def classify(
    con: duckdb.DuckDBPyConnection,
    table: str,
    manual: list[overrides.Override],
    *,
    spec: rules.ClassificationSpec,
    spec_version: int,
    as_of: date,
    refreshed_at: datetime,
    tz: str,
) -> pa.Table:
    """Apply the `manual` overrides to the DuckDB `table` of unclassified performance rows, then
    classify every row with `spec`; the rows of `measurement.performance` (PERFORMANCE schema).

    `tz` is the store timezone (a manual `launched_at` gives the store-local `launch_date`).
    """
    overrides_sql.apply(con, table, manual, tz=tz)
    return _classified(con, table, spec, spec_version, as_of, refreshed_at)


def _classified(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: rules.ClassificationSpec,
    spec_version: int,
    as_of: date,
    refreshed_at: datetime,
) -> pa.Table:
    """Classify every row of the DuckDB `table` with `spec`; the result in the PERFORMANCE schema.

    A refresh's `table` has metrics only; a manual edit's has the stored rows, whose flags and
    stamps are dropped here and derived again."""
    derived = (*rules.CLASSIFIED_COLUMNS, "spec_version", "as_of", "refreshed_at")
    columns = con.execute(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema.names
    exclude = ", ".join(c for c in derived if c in columns)
    metrics = f"(SELECT * EXCLUDE ({exclude}) FROM {table})" if exclude else table
    sql = (
        f"SELECT *, $spec_version::BIGINT AS spec_version, "
        f"$as_of::DATE AS as_of, $refreshed_at::TIMESTAMPTZ AS refreshed_at "
        f"FROM ({rules.classify_sql(metrics)}) ORDER BY artifact_id"
    )
    result = con.execute(
        sql,
        {**rules.spec_params(spec), "spec_version": spec_version, "as_of": as_of, "refreshed_at": refreshed_at},
    ).to_arrow_table()
    return schemas.conform(result, schemas.PERFORMANCE)


def write_table(settings: Settings, ident: tuple[str, str], data, props: dict[str, str]) -> int | None:
    """Replace the table's rows with `data` in one overwrite commit; returns the new snapshot id."""
    table = catalog.load(settings, ident)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        with table.transaction() as tx:
            tx.overwrite(data, snapshot_properties=props)
    table = table.refresh()
    return catalog.current_snapshot_id(table)
