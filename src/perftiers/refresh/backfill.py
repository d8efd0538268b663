"""`perftiers history backfill`: the tiers each past day would have had, in one pass.

In:  `raw.products` (today's list and today's `is_active`: the past state is not kept),
     `raw.order_lines`, every classification_spec version with its `created_at`, the history
     that agrees with the served performance (`history.pair`).
Out: `measurement.tier_history` with the days `from`..`to` replaced by computed periods
     (`backfilled` true), merged with the periods before and after, in one overwrite commit.

Per day D the spec in force is the newest version created (store-local date) on or before D;
version 1 before any change. Products kept deleted by a manual override are left out, as a
refresh leaves them out; other manual overrides are not applied to past days.

The range must end before the last refreshed date (those days belong to refreshes) and not in
the future; `to` defaults to the day before the last refresh (yesterday without one). With no
refresh yet, each product's last backfilled period stays open, so a later daily refresh
continues it. A range with no order line on or before `to`, or a store without products, is
refused: nothing is written.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from perftiers import duck, faults, rules
from perftiers.errors import BadRequest
from perftiers.lakehouse import catalog, maintenance, scan
from perftiers.metadata import artifacts, overrides
from perftiers.metadata.db import engine_for
from perftiers.refresh import history
from perftiers.refresh.mart import LINE_COLUMNS, MEMORY_LIMIT, today
from perftiers.settings import Settings

MAX_DAYS = 3660
"""At most ten years per backfill (the grid is products x days)."""


def resolve_range(settings: Settings, start: date, end: date | None,
                  current: history.Pair) -> tuple[date, date]:
    """The validated range (BadRequest with a clear message otherwise)."""
    now = today(settings)
    if end is None:
        end = (current.as_of or now) - timedelta(days=1)
    if start > now or end > now:
        raise BadRequest(f"cannot backfill the future: today is {now.isoformat()} in the store timezone",
                         details={"from": start.isoformat(), "to": end.isoformat(), "today": now.isoformat()})
    if start > end:
        raise BadRequest(f"--from {start.isoformat()} is after --to {end.isoformat()}",
                         details={"from": start.isoformat(), "to": end.isoformat()})
    if current.as_of is not None and end >= current.as_of:
        raise BadRequest(
            f"backfill covers days before the last refresh ({current.as_of.isoformat()}); "
            f"use --to {(current.as_of - timedelta(days=1)).isoformat()} or earlier",
            details={"to": end.isoformat(), "last_as_of": current.as_of.isoformat()})
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(f"at most {MAX_DAYS} days per backfill", details={"days": (end - start).days + 1})
    return start, end


def spec_days(engine, settings: Settings, start: date, end: date) -> pa.Table:
    """Per day of the range: the spec version in force and its four thresholds."""
    artifacts.current_spec(engine)  # version 1 exists
    versions = sorted(artifacts.history(engine, artifacts.CLASSIFICATION_SPEC), key=lambda a: a.version)
    starts = [(a.version, a.created_at.astimezone(settings.tz).date(), rules.ClassificationSpec(**a.body))
              for a in versions]
    rows: dict[str, list[Any]] = {"day": [], "spec_version": [], **{k: [] for k in rules.SPEC_PARAMS}}
    day = start
    while day <= end:
        version, _, spec = max(((v, d, s) for v, d, s in starts if v == starts[0][0] or d <= day),
                               key=lambda t: t[0])
        rows["day"].append(day)
        rows["spec_version"].append(version)
        for k, v in rules.spec_params(spec).items():
            rows[k].append(v)
        day += timedelta(days=1)
    return pa.table(rows)


def islands_sql(classified: str, open_end: bool) -> str:
    """Gaps and islands: consecutive days of one product in one state become one period."""
    state = ", ".join(history.STATE_COLUMNS)
    differs = " OR ".join(f"{c} IS DISTINCT FROM LAG({c}) OVER w" for c in history.STATE_COLUMNS)
    end = "CAST(NULL AS DATE)" if open_end else "MAX(day) + 1"
    return f"""
        WITH marked AS (
            SELECT artifact_id, day, {state},
                   CASE WHEN LAG(day) OVER w IS NULL OR {differs} THEN 1 ELSE 0 END AS starts
            FROM {classified}
            WINDOW w AS (PARTITION BY artifact_id ORDER BY day)
        ),
        numbered AS (
            SELECT *, SUM(starts) OVER (PARTITION BY artifact_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS island
            FROM marked
        )
        SELECT artifact_id, MIN(day) AS valid_from,
               CASE WHEN MAX(day) = CAST($to AS DATE) THEN {end} ELSE MAX(day) + 1 END AS valid_to,
               {state}, true AS backfilled
        FROM numbered GROUP BY artifact_id, island, {state}
    """


def merge_sql(existing: str, backfilled: str) -> str:
    """`existing` periods cut to outside `$from`..`$to`, the backfilled ones in between, and
    adjacent periods of one state joined (a period keeps the `backfilled` mark of its start)."""
    state = ", ".join(history.STATE_COLUMNS)
    same = " AND ".join(f"LAG({c}) OVER w IS NOT DISTINCT FROM {c}" for c in history.STATE_COLUMNS)
    columns = ", ".join(history.HISTORY_COLUMNS)
    return f"""
        WITH pieces AS (
            SELECT * REPLACE (
                       CASE WHEN valid_to IS NULL OR valid_to > CAST($from AS DATE) THEN CAST($from AS DATE)
                            ELSE valid_to END AS valid_to)
            FROM {existing} WHERE valid_from < CAST($from AS DATE)
            UNION ALL
            SELECT * REPLACE (GREATEST(valid_from, CAST($to AS DATE) + 1) AS valid_from)
            FROM {existing} WHERE valid_to IS NULL OR valid_to > CAST($to AS DATE) + 1
            UNION ALL
            SELECT {columns} FROM {backfilled}
        ),
        marked AS (
            SELECT *, CASE WHEN LAG(valid_to) OVER w = valid_from AND {same} THEN 0 ELSE 1 END AS starts
            FROM pieces WINDOW w AS (PARTITION BY artifact_id ORDER BY valid_from)
        ),
        numbered AS (
            SELECT *, SUM(starts) OVER (PARTITION BY artifact_id ORDER BY valid_from
                                        ROWS UNBOUNDED PRECEDING) AS period
            FROM marked
        )
        SELECT artifact_id, MIN(valid_from) AS valid_from,
               CASE WHEN COUNT(*) FILTER (WHERE valid_to IS NULL) > 0 THEN NULL ELSE MAX(valid_to) END AS valid_to,
               {state}, ARG_MIN(backfilled, valid_from) AS backfilled
        FROM numbered GROUP BY artifact_id, period, {state}
        ORDER BY artifact_id, valid_from
    """


def backfill(ctx: Any, start: date, end: date | None = None) -> dict[str, Any]:
    """The job (`perftiers.pipeline.jobs.backfill` starts it): compute, merge, one commit, upkeep."""
    settings: Settings = ctx.settings
    engine = engine_for(settings.resolved_database_url)
    current = history.pair(settings)
    start, end = resolve_range(settings, start, end, current)
    specs = spec_days(engine, settings, start, end)
    deleted = [o.artifact_id for o in overrides.load_all(engine) if o.deleted]
    params = {"tz": settings.timezone, "as_of": end}
    con = duck.connect(settings, memory_limit=MEMORY_LIMIT)
    try:
        ctx.progress("reading raw tables", None, None)
        products = catalog.load(settings, catalog.PRODUCTS).scan().to_arrow()
        con.register("products_all", products)
        con.execute("CREATE TABLE products AS SELECT * FROM products_all WHERE NOT list_contains(?, artifact_id)",
                    [deleted])
        lines = catalog.load(settings, catalog.ORDER_LINES)
        relation = scan.parquet_relation(lines, LINE_COLUMNS)
        if relation is not None:
            con.execute(f"CREATE VIEW order_lines AS SELECT * FROM {relation}")
        else:
            con.register("order_lines", lines.scan(selected_fields=LINE_COLUMNS).to_arrow_batch_reader())
        ctx.progress("computing daily sales", None, None)
        con.execute(f"CREATE TABLE daily_sales AS {rules.daily_sales_sql('order_lines')}", params)
        n_products = con.execute("SELECT COUNT(*) FROM products").fetchone()[0]
        first_day = con.execute("SELECT MIN(day) FROM daily_sales").fetchone()[0]
        if n_products == 0 or first_day is None:
            raise BadRequest(
                f"no data to backfill from: {'no products' if n_products == 0 else 'no order line'} "
                f"on or before {end.isoformat()}", details={"from": start.isoformat(), "to": end.isoformat()})
        ctx.progress("computing daily tiers", None, None)
        con.register("spec_days", specs)
        con.execute(
            f"CREATE TABLE day_metrics AS SELECT m.*, s.* EXCLUDE (day) "
            f"FROM ({rules.daily_metrics_sql('products', 'daily_sales')}) m JOIN spec_days s USING (day)",
            {"tz": settings.timezone, "from": start, "to": end},
        )
        con.execute(f"CREATE TABLE day_tiers AS {rules.classify_by_day_sql('day_metrics')}")
        con.execute("DROP TABLE day_metrics")
        ctx.progress("compressing days into periods", None, None)
        con.execute(f"CREATE TABLE backfilled AS {islands_sql('day_tiers', open_end=current.as_of is None)}",
                    {"to": end})
        counts = {"days": (end - start).days + 1, "products": n_products,
                  "product_days": con.execute("SELECT COUNT(*) FROM day_tiers").fetchone()[0],
                  "backfilled_periods": con.execute("SELECT COUNT(*) FROM backfilled").fetchone()[0]}
        con.execute("DROP TABLE day_tiers")
        con.register("existing", history.read(settings, current.history))
        merged = con.execute(merge_sql("existing", "backfilled"), {"from": start, "to": end}).to_arrow_table()
    finally:
        con.close()

    props = {history.RUN_ID: ctx.run_id, history.KIND: "backfill",
             "perftiers.backfill_from": start.isoformat(), "perftiers.backfill_to": end.isoformat()}
    props[history.PERFORMANCE_RUN] = current.run or history.NO_PERFORMANCE
    if current.as_of is not None:
        props[history.AS_OF] = current.as_of.isoformat()
        previous = max(d for d in (current.previous_as_of, end) if d is not None)
        props[history.PREVIOUS_AS_OF] = previous.isoformat()
    ctx.progress("writing measurement.tier_history", None, None)
    snapshot_id = history.write(settings, merged, props)
    faults.point("backfill:written")
    maintenance.maintain(settings, catalog.TIER_HISTORY)
    counts["history_rows"] = merged.num_rows
    return {"counts": counts, "snapshot_id": snapshot_id, "from": start.isoformat(), "to": end.isoformat()}
