"""The daily sync: a store source -> `raw.products` and `raw.order_lines`.

The whole extract is staged in DuckDB and checked before anything is written; then each raw
table gets at most one Iceberg commit. Rows are upserted by key (`artifact_id`, `line_id`):
rows absent from the extract are kept, and a table whose rows would not change gets no commit,
so syncing the same data twice leaves both tables exactly as they were. Before the order lines'
commit, the store-local days of the lines it adds or replaces are recorded (`metadata.sales_changes`)
so the next refresh recomputes only those days. A source that can identify its input without reading
it (`fingerprint()`, the files source) has an unchanged re-sync skipped: same input, raw tables
still at the snapshots the last sync of it left (`metadata.sync_inputs`). After a commit, old
snapshots of the table are expired and files no snapshot needs are deleted (`lakehouse.maintenance`).
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from perftiers import duck, faults, rules
from perftiers.lakehouse import catalog, maintenance, scan, schemas
from perftiers.metadata import sales_changes, sync_inputs
from perftiers.metadata.db import engine_for
from perftiers.runcontext import RunContext
from perftiers.sources.base import RowProblem, Source, SourceRejected


def sync_store(ctx: RunContext, source: Source) -> dict[str, Any]:
    settings = ctx.settings
    engine = engine_for(settings.resolved_database_url)
    fingerprint = source.fingerprint() if hasattr(source, "fingerprint") else None
    if fingerprint is not None:
        seen = sync_inputs.unchanged(engine, source.name, fingerprint, _raw_snapshots(settings))
        if seen is not None:  # the same files into the same tables: the upsert would change nothing
            ctx.progress("input unchanged since the last sync", None, None)
            counts = {**seen, "products_written": 0, "order_lines_written": 0, "rows_written": 0}
            return {"counts": counts, "source": source.name, "input_unchanged": True}
    ctx.progress(f"reading {source.name} source", None, None)
    extract = source.extract()
    con = duck.connect(settings)
    try:
        con.register("incoming_products_arrow", schemas.conform(extract.products, schemas.PRODUCTS))
        con.execute("CREATE TABLE incoming_products AS SELECT * FROM incoming_products_arrow")
        con.unregister("incoming_products_arrow")
        con.execute(f"CREATE TABLE incoming_lines ({duck.ddl(schemas.ORDER_LINES)})")
        staged = 0
        for batch in extract.order_lines():
            con.register("batch", pa.Table.from_batches([batch]))
            con.execute("INSERT INTO incoming_lines SELECT * FROM batch")
            con.unregister("batch")
            staged += batch.num_rows
            ctx.progress("staging order lines", staged, None)
        _reject_duplicates(con, extract_name=source.name)

        counts = {
            "products": con.execute("SELECT COUNT(*) FROM incoming_products").fetchone()[0],
            "order_lines": staged,
            "orders": con.execute("SELECT COUNT(DISTINCT order_id) FROM incoming_lines").fetchone()[0],
            **extract.counts,
        }
        ctx.progress("writing raw.products", None, None)
        counts["products_written"] = _upsert(ctx, con, catalog.PRODUCTS, "incoming_products", "artifact_id")
        ctx.progress("writing raw.order_lines", None, None)
        counts["order_lines_written"] = _upsert(ctx, con, catalog.ORDER_LINES, "incoming_lines", "line_id")
    finally:
        con.close()
    counts["rows_written"] = counts["products_written"] + counts["order_lines_written"]
    if extract.on_committed is not None:
        extract.on_committed()
        faults.point("sync:on-committed")
    if counts["rows_written"]:
        ctx.progress("expiring old snapshots", None, None)
        for ident, written in ((catalog.PRODUCTS, "products_written"), (catalog.ORDER_LINES, "order_lines_written")):
            if counts[written]:
                maintenance.maintain(settings, ident)
    sync_inputs.record(engine, source.name, fingerprint, _raw_snapshots(settings), counts)
    result: dict[str, Any] = {"counts": counts, "source": source.name}
    if extract.warnings:
        result["warnings"] = list(extract.warnings)
    return result


def _raw_snapshots(settings) -> tuple[int | None, int | None]:
    return (catalog.current_snapshot_id(catalog.load_existing(settings, catalog.PRODUCTS)),
            catalog.current_snapshot_id(catalog.load_existing(settings, catalog.ORDER_LINES)))


def _reject_duplicates(con: duckdb.DuckDBPyConnection, extract_name: str) -> None:
    problems: list[RowProblem] = []
    for table, key in (("incoming_products", "artifact_id"), ("incoming_lines", "line_id")):
        rows = con.execute(
            f"SELECT {key}, COUNT(*) FROM {table} GROUP BY 1 HAVING COUNT(*) > 1 ORDER BY 1 LIMIT 100"
        ).fetchall()
        problems += [RowProblem(extract_name, 0, f"{key} {k!r} appears {n} times") for k, n in rows]
    if problems:
        raise SourceRejected(problems)


def _upsert(ctx: RunContext, con: duckdb.DuckDBPyConnection, ident: tuple[str, str], incoming: str, key: str) -> int:
    """Upsert `incoming` into the Iceberg table in one commit; returns the rows added or changed."""
    table = catalog.load(ctx.settings, ident)
    schema = catalog.TABLE_SCHEMAS[ident]
    props = {"perftiers.run_id": ctx.run_id}
    if table.current_snapshot() is None:
        data = schemas.conform(con.execute(f"SELECT * FROM {incoming}").to_arrow_table(), schema)
        if data.num_rows:
            _record_days(ctx, con, ident, incoming)
            table.append(data, snapshot_properties=props)
        return data.num_rows

    # The current rows: a view over the snapshot's Parquet files when DuckDB can read them itself
    # (parallel, and not copied into memory), else a copy through PyIceberg.
    relation = scan.parquet_relation(table, table.schema().column_names)
    if relation is not None:
        con.execute(f"CREATE VIEW existing AS SELECT * FROM {relation}")
    else:
        con.register("existing_arrow", table.scan().to_arrow_batch_reader())
        con.execute("CREATE TABLE existing AS SELECT * FROM existing_arrow")
        con.unregister("existing_arrow")
    changed = con.execute(
        f"CREATE TABLE changed AS SELECT * FROM {incoming} EXCEPT ALL SELECT * FROM existing;"
        f"SELECT COUNT(*), COUNT(*) FILTER (WHERE {key} IN (SELECT {key} FROM existing)) FROM changed"
    ).fetchone()
    n_changed, n_replaced = changed
    try:
        if n_changed == 0:
            return 0
        replaced = f"SELECT * FROM existing WHERE {key} IN (SELECT {key} FROM changed)"
        _record_days(ctx, con, ident, f"changed UNION ALL {replaced}")
        if n_replaced == 0:
            data = schemas.conform(con.execute("SELECT * FROM changed").to_arrow_table(), schema)
            table.append(data, snapshot_properties=props)
        else:
            merged = con.execute(
                f"SELECT * FROM existing WHERE {key} NOT IN (SELECT {key} FROM {incoming}) "
                f"UNION ALL SELECT * FROM {incoming}"
            ).to_arrow_table()
            with table.transaction() as tx:
                tx.overwrite(schemas.conform(merged, schema), snapshot_properties=props)
        return n_changed
    finally:
        con.execute(f"DROP {'VIEW' if relation is not None else 'TABLE'} IF EXISTS existing; DROP TABLE IF EXISTS changed")


def _record_days(ctx: RunContext, con: duckdb.DuckDBPyConnection, ident: tuple[str, str], lines: str) -> None:
    """Record the store-local days of the order lines in `lines` (new versions and the ones they replace)."""
    if ident != catalog.ORDER_LINES:
        return
    tz = ctx.settings.timezone
    days = con.execute(f"SELECT DISTINCT {rules.local_day_sql('ordered_at')} FROM (SELECT * FROM {lines})",
                       {"tz": tz}).fetchall()
    sales_changes.record(engine_for(ctx.settings.resolved_database_url), (d for (d,) in days), tz)
