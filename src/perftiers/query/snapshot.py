"""Loading one Iceberg snapshot into DuckDB tables built for serving.

In:  `measurement.performance`, `raw.products` and `raw.order_lines` at given snapshot ids.
Out: real DuckDB tables under generation-numbered names, so a new load never disturbs the
     tables requests are reading:
     - `performance_<g>`: the performance rows in the default order, numbered `_rank`, with
       lower-cased `_id_lc` / `_name_lc` for search;
     - `sales_days_<g>`: per artifact and store-local day, net units / revenue / orders, from
       `rules.daily_sales_sql` over every raw line (commerce analytics, any from/to);
     - `order_days_<g>`: distinct (order, artifact, day) of non-cancelled lines (order counts);
     - `products_<g>`: artifact_id -> product_name.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable

import duckdb
import pyarrow as pa

from perftiers import duck, rules
from perftiers.lakehouse import catalog, schemas
from perftiers.query.filters import DEFAULT_ORDER_SQL
from perftiers.settings import Settings

LINE_COLUMNS = ("order_id", "ordered_at", "artifact_id", "quantity", "refunded_quantity", "unit_price",
                "discount", "cancelled")
FAR_FUTURE = date(9999, 12, 31)
FIRST_PAGES = 64
"""First list pages kept per snapshot (at most 500 rows each)."""


@dataclass(frozen=True)
class SourceIds:
    """Iceberg snapshot ids the served tables were loaded from (None: table empty or absent)."""

    performance: int | None
    products: int | None
    order_lines: int | None
    history: int | None = None
    """measurement.tier_history written with the performance snapshot (`refresh.history.pair`)."""
    daily_sales: int | None = None
    as_of: date | None = None
    previous_as_of: date | None = None

    @property
    def raw(self) -> tuple[int | None, int | None]:
        return (self.products, self.order_lines)


class LruCache:
    """A small thread-safe LRU for per-snapshot results (counts, summaries, facets)."""

    def __init__(self, size: int = 256):
        self.size, self._data, self._lock = size, OrderedDict(), threading.Lock()

    def get_or_compute(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = compute()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value


@dataclass
class Snapshot:
    """What one request reads: table names, the Iceberg ids behind them, caches."""

    generation: int
    ids: SourceIds
    performance: str
    sales_days: str
    order_days: str
    products: str
    loaded_at: datetime
    row_count: int
    spec_version: int | None
    """The classification_spec version the served rows carry (None when empty)."""
    cache: LruCache = field(default_factory=LruCache)
    first_pages: LruCache = field(default_factory=lambda: LruCache(FIRST_PAGES))
    """Rendered JSON of each view's first list page (`routes.metrics.list_metrics`)."""
    inflight: int = 0
    current: bool = True
    history: str = ""
    """Tier history periods (`history_<g>`) and daily sales (`daily_<g>` table or `daily_view_<g>`)."""
    daily: str = ""

    @property
    def tables(self) -> tuple[str, ...]:
        extra = tuple(t for t in (self.history, self.daily) if t)
        return (self.performance, self.sales_days, self.order_days, self.products, *extra)

    @property
    def snapshot_id(self) -> str:
        return "none" if self.ids.performance is None else str(self.ids.performance)

    @property
    def raw_snapshot_id(self) -> str:
        return "none" if self.ids.order_lines is None else str(self.ids.order_lines)


def current_ids(settings: Settings) -> SourceIds:
    """The current snapshot ids of the tables, performance paired with its history (metadata only)."""
    from perftiers.refresh.history import pair

    raw = [catalog.current_snapshot_id(catalog.load_existing(settings, ident))
           for ident in (catalog.PRODUCTS, catalog.ORDER_LINES)]
    p = pair(settings)
    return SourceIds(p.performance, *raw, p.history, p.daily_sales, p.as_of, p.previous_as_of)


def drop_sql(name: str) -> str:
    return f"DROP {'VIEW' if name.startswith('daily_view_') else 'TABLE'} IF EXISTS {name}"


def load_history(cur: duckdb.DuckDBPyConnection, settings: Settings, g: int, ids: SourceIds) -> tuple[str, str]:
    """Create `history_<g>` (periods by product) and the daily-sales relation of the pair.

    Daily sales stay in their Parquet files when DuckDB can read them (a view; one product's rows
    are found by the files' min/max statistics), else they are copied into a table."""
    from perftiers.lakehouse import scan
    from perftiers.refresh.history import read

    hist = f"history_{g}"
    cur.register("history_arrow", read(settings, ids.history))
    try:
        cur.execute(f"CREATE TABLE {hist} AS SELECT * FROM history_arrow ORDER BY artifact_id, valid_from")
    finally:
        cur.unregister("history_arrow")
    table = catalog.load_existing(settings, catalog.DAILY_SALES) if ids.daily_sales is not None else None
    relation = scan.parquet_relation(table, schemas.DAILY_SALES.names, ids.daily_sales) if table else None
    if relation is not None:
        daily = f"daily_view_{g}"
        cur.execute(f"CREATE VIEW {daily} AS SELECT * FROM {relation}")
        return hist, daily
    daily = f"daily_{g}"
    data = _scan(settings, catalog.DAILY_SALES, ids.daily_sales)
    cur.register("daily_arrow", data if data is not None else schemas.DAILY_SALES.empty_table())
    try:
        cur.execute(f"CREATE TABLE {daily} AS SELECT * FROM daily_arrow ORDER BY artifact_id, day")
    finally:
        cur.unregister("daily_arrow")
    return hist, daily


def _scan(settings: Settings, ident: tuple[str, str], snapshot_id: int | None,
          fields: tuple[str, ...] | None = None) -> pa.Table | None:
    if snapshot_id is None:
        return None
    table = catalog.load_existing(settings, ident)
    if table is None:
        return None
    kwargs: dict[str, Any] = {"snapshot_id": snapshot_id}
    if fields:
        kwargs["selected_fields"] = fields
    return table.scan(**kwargs).to_arrow()


def load_performance(cur: duckdb.DuckDBPyConnection, settings: Settings, name: str,
                     snapshot_id: int | None) -> tuple[int, int | None]:
    """Create `name` from the performance snapshot; returns its row count and spec version."""
    data = _scan(settings, catalog.PERFORMANCE, snapshot_id)
    if data is None:
        cur.execute(f"CREATE TABLE perf_empty_src ({duck.ddl(schemas.PERFORMANCE)})")
        source = "perf_empty_src"
    else:
        cur.register("perf_arrow", data)
        source = "perf_arrow"
    try:
        cur.execute(
            f"CREATE TABLE {name} AS SELECT *, lower(artifact_id) AS _id_lc, "
            f"lower(COALESCE(product_name, '')) AS _name_lc, "
            f"ROW_NUMBER() OVER (ORDER BY {DEFAULT_ORDER_SQL}) AS _rank "
            f"FROM {source} ORDER BY _rank"
        )
    finally:
        if data is None:
            cur.execute("DROP TABLE perf_empty_src")
        else:
            cur.unregister("perf_arrow")
    rows, version = cur.execute(f"SELECT COUNT(*), MAX(spec_version) FROM {name}").fetchone()
    return rows, version


def load_raw(cur: duckdb.DuckDBPyConnection, settings: Settings, names: dict[str, str], ids: SourceIds) -> None:
    """Create the commerce tables (`sales_days`, `order_days`, `products`) from raw snapshots."""
    products = _scan(settings, catalog.PRODUCTS, ids.products, ("artifact_id", "product_name"))
    lines = _scan(settings, catalog.ORDER_LINES, ids.order_lines, LINE_COLUMNS)
    if products is None:
        products = pa.table({"artifact_id": pa.array([], pa.string()), "product_name": pa.array([], pa.string())})
    if lines is None:
        lines = schemas.ORDER_LINES.empty_table().select(list(LINE_COLUMNS))
    cur.register("products_arrow", products)
    cur.register("lines_arrow", lines)
    params = {"tz": settings.timezone, "as_of": FAR_FUTURE}
    try:
        cur.execute(f"CREATE TABLE {names['products']} AS SELECT artifact_id, product_name FROM products_arrow")
        cur.execute(
            f"CREATE TABLE {names['sales_days']} AS SELECT * FROM ({rules.daily_sales_sql('lines_arrow')}) "
            "ORDER BY day, artifact_id",
            params,
        )
        cur.execute(
            f"CREATE TABLE {names['order_days']} AS SELECT DISTINCT order_id, artifact_id, "
            f"{rules.local_day_sql('ordered_at')} AS day FROM lines_arrow WHERE NOT cancelled ORDER BY day",
            {"tz": settings.timezone},
        )
    finally:
        cur.unregister("products_arrow")
        cur.unregister("lines_arrow")


def now() -> datetime:
    return datetime.now(timezone.utc)
