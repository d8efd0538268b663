"""Commerce analytics over every raw order line (not only days up to the last refresh).

In:  the snapshot's `sales_days` (net units and revenue per artifact and store-local day, built
     with `rules.daily_sales_sql`) and `order_days` (distinct non-cancelled order/artifact/day).
Out: overview KPIs for a period and the one before it, top products, daily figures.
Periods are inclusive store-timezone dates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from perftiers.errors import BadRequest
from perftiers.query.snapshot import Snapshot
from perftiers.settings import Settings

DEFAULT_DAYS = 30
MAX_DAYS = 366 * 20


def period(settings: Settings, start: date | None, end: date | None) -> tuple[date, date]:
    """Resolve defaults (the 30 days ending today) and check the range."""
    end = end or datetime.now(settings.tz).date()
    try:
        start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    except OverflowError:
        raise BadRequest("`to` is too early", details=[{"loc": ["query", "to"], "msg": "date out of range"}])
    if start > end:
        raise BadRequest("`from` is after `to`", details=[{"loc": ["query", "from"], "msg": "must be <= to"}])
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(f"a period may cover at most {MAX_DAYS} days",
                         details=[{"loc": ["query", "from"], "msg": "period too long"}])
    return start, end


def previous(start: date, end: date) -> tuple[date, date] | None:
    length = (end - start).days + 1
    try:
        return start - timedelta(days=length), start - timedelta(days=1)
    except OverflowError:
        return None


def _money(v: Any) -> float:
    return float(round(Decimal(v or 0), 2)) if not isinstance(v, float) else round(v, 2)


def kpis(s: Snapshot, cur: duckdb.DuckDBPyConnection, start: date, end: date) -> dict[str, Any]:
    revenue, units = cur.execute(
        f"SELECT COALESCE(SUM(revenue), 0), COALESCE(SUM(net_units), 0) FROM {s.sales_days} "
        "WHERE day BETWEEN ? AND ?", [start, end],
    ).fetchone()
    orders = cur.execute(
        f"SELECT COUNT(DISTINCT order_id) FROM {s.order_days} WHERE day BETWEEN ? AND ?", [start, end]
    ).fetchone()[0]
    revenue = Decimal(revenue)
    return {
        "from": start, "to": end,
        "revenue": _money(revenue),
        "order_count": int(orders),
        "aov": _money(revenue / orders) if orders else 0.0,
        "units": int(units),
    }


def overview(s: Snapshot, cur: duckdb.DuckDBPyConnection, settings: Settings, start: date, end: date) -> dict[str, Any]:
    now = kpis(s, cur, start, end)
    prev = previous(start, end)
    before = kpis(s, cur, *prev) if prev else {"from": None, "to": None, "revenue": 0.0, "order_count": 0,
                                                  "aov": 0.0, "units": 0}
    return {**now, "currency": settings.currency, "previous": {**before, "currency": settings.currency}}


def top_products(s: Snapshot, cur: duckdb.DuckDBPyConnection, start: date, end: date, *, by: str,
                 limit: int) -> list[dict[str, Any]]:
    order = "revenue DESC, artifact_id ASC" if by == "revenue" else "units DESC, artifact_id ASC"
    rows = cur.execute(
        f"""WITH o AS (SELECT artifact_id, COUNT(DISTINCT order_id) AS order_count FROM {s.order_days}
                       WHERE day BETWEEN ? AND ? GROUP BY 1),
                 d AS (SELECT artifact_id, SUM(revenue) AS revenue, SUM(net_units) AS units FROM {s.sales_days}
                       WHERE day BETWEEN ? AND ? GROUP BY 1)
            SELECT o.artifact_id, p.product_name, COALESCE(d.revenue, 0) AS revenue,
                   CAST(COALESCE(d.units, 0) AS BIGINT) AS units, o.order_count
            FROM o LEFT JOIN d USING (artifact_id) LEFT JOIN {s.products} p USING (artifact_id)
            ORDER BY {order} LIMIT ?""",
        [start, end, start, end, limit],
    ).fetchall()
    return [
        {"rank": i, "artifact_id": a, "product_name": name, "revenue": _money(rev), "units": int(units),
         "order_count": int(n)}
        for i, (a, name, rev, units, n) in enumerate(rows, start=1)
    ]


def daily(s: Snapshot, cur: duckdb.DuckDBPyConnection, start: date, end: date) -> list[dict[str, Any]]:
    """One row per day with sales in the period (days without sales are left out)."""
    rows = cur.execute(
        f"""WITH d AS (SELECT day, SUM(revenue) AS revenue, SUM(net_units) AS units FROM {s.sales_days}
                       WHERE day BETWEEN ? AND ? GROUP BY 1),
                 o AS (SELECT day, COUNT(DISTINCT order_id) AS order_count FROM {s.order_days}
                       WHERE day BETWEEN ? AND ? GROUP BY 1)
            SELECT day, COALESCE(d.revenue, 0), CAST(COALESCE(d.units, 0) AS BIGINT), COALESCE(o.order_count, 0)
            FROM d FULL JOIN o USING (day) ORDER BY day""",
        [start, end, start, end],
    ).fetchall()
    return [{"day": day, "revenue": _money(rev), "units": int(u), "order_count": int(n)} for day, rev, u, n in rows]
