"""Reads of the tier history: changes since a day, a product's timeline, the previous tier.

"Changes since X" compares each current product's state on X (its history period covering X;
none if it had no period then) with its current state (the served performance row). A product
moved when any of its four flags differs; it entered a tier whose flag it has now and had not
then, and left one it had then and has not now. A product with a state on X that is gone from
performance now (deleted from the store since) left every tier it had: it counts and is listed
with tier `none` now, but only when no filter is set (filters select by current attributes, and a
gone product has none). Functions take table names, so the API (per snapshot) and the CLI (its own DuckDB) share them.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import duckdb

from perftiers.errors import BadRequest
from perftiers.query import filters as flt
from perftiers.refresh.history import state_on_sql
from perftiers.rules import FLAG_OF_TIER, TIERS

PREVIOUS = "previous"
MAX_SERIES_DAYS = 3660


def resolve_since(since: str | date | None, *, as_of: date | None, previous: date | None, today: date) -> date | None:
    """`previous` (the refresh before the current one; None if there was none) or a past date."""
    if since is None or since == PREVIOUS:
        return previous
    if isinstance(since, str):
        try:
            day = date.fromisoformat(since) if len(since) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise BadRequest(f"since must be 'previous' or a date YYYY-MM-DD, not {since!r}",
                             details=[{"loc": ["query", "since"], "msg": "expected previous or YYYY-MM-DD"}])
    else:
        day = since
    if day > today:
        raise BadRequest(f"{day.isoformat()} is in the future (today is {today.isoformat()} in the store timezone)",
                         details=[{"loc": ["query", "since"], "msg": "date in the future"}])
    return day


def _flag(alias: str, flag: str) -> str:
    return f"COALESCE({alias}.{flag}, false)"


def moved_sql() -> str:
    return " OR ".join(f"{_flag('t', f)} <> n.{f}" for f in FLAG_OF_TIER.values())


def compared(performance: str, history: str, where: str, params: list[Any], since: date) -> tuple[str, list[Any]]:
    """`FROM` both states, with its parameters: `n` now (the performance rows matching `where`, plus
    the products gone since `since` with every flag false, tier `none` and `removed`), `t` on `since`.

    Gone products have NULL attributes, so any filter leaves them out."""
    gone_flags = ", ".join(f"false AS {f}" for f in FLAG_OF_TIER.values())
    now = (f"SELECT * FROM {performance} UNION ALL BY NAME "
           f"SELECT g.artifact_id, {gone_flags}, 'none' AS nominal_classification, g.spec_version, "
           f"true AS removed "
           f"FROM ({state_on_sql(history)}) g "
           f"WHERE g.artifact_id NOT IN (SELECT artifact_id FROM {performance})")
    sql = f"FROM (SELECT * FROM ({now}) WHERE {where}) n LEFT JOIN ({state_on_sql(history)}) t USING (artifact_id)"
    return sql, [since, since, *params, since, since]


def changed_since(performance: str, history: str, since: date | None) -> tuple[str, list[Any], Any]:
    """A WHERE condition on `performance` rows: products whose flags differ from their state on `since`
    (with its parameters and a cache key); nothing matches without a day to compare with."""
    if since is None:
        return "FALSE", [], ("changed", None)
    sql = (f"artifact_id IN (SELECT n.artifact_id FROM {performance} n LEFT JOIN "
           f"({state_on_sql(history)}) t USING (artifact_id) WHERE {moved_sql()})")
    return sql, [since, since], ("changed", since)


def moves(cur: duckdb.DuckDBPyConnection, performance: str, history: str, since: date | None,
          values: flt.FilterValues) -> dict[str, dict[str, int]]:
    """Per tier: products (matching the filters) that entered and left it since `since`."""
    if since is None:
        return {tier: {"entered": 0, "left": 0} for tier in TIERS}
    where, params = flt.where(values)
    parts = []
    for tier in TIERS:
        f = FLAG_OF_TIER[tier]
        parts.append(f"COUNT(*) FILTER (WHERE n.{f} AND NOT {_flag('t', f)})")
        parts.append(f"COUNT(*) FILTER (WHERE {_flag('t', f)} AND NOT n.{f})")
    source, args = compared(performance, history, where, params, since)
    row = cur.execute(f"SELECT {', '.join(parts)} {source}", args).fetchone()
    return {tier: {"entered": int(row[2 * i]), "left": int(row[2 * i + 1])} for i, tier in enumerate(TIERS)}


def moved_page(cur: duckdb.DuckDBPyConnection, performance: str, history: str, since: date | None,
               values: flt.FilterValues, *, page_no: int, page_size: int) -> dict[str, Any]:
    """The products that moved since `since`, with their tier then and now (by artifact_id)."""
    empty = {"items": [], "page": page_no, "pageSize": page_size, "total": 0, "totalPages": 0}
    if since is None:
        return empty
    where, params = flt.where(values)
    source, args = compared(performance, history, where, params, since)
    base = f"{source} WHERE {moved_sql()}"
    n = cur.execute(f"SELECT COUNT(*) {base}", args).fetchone()[0]
    flags_now = ", ".join(f"n.{f} AS now_{f}" for f in FLAG_OF_TIER.values())
    flags_then = ", ".join(f"t.{f} AS then_{f}" for f in FLAG_OF_TIER.values())
    rows = cur.execute(
        f"SELECT n.artifact_id, n.product_name, COALESCE(n.removed, false) AS removed, "
        f"n.nominal_classification, n.spec_version, "
        f"t.nominal_classification AS previous_nominal_classification, t.spec_version AS previous_spec_version, "
        f"t.valid_from AS previous_since, {flags_now}, {flags_then} {base} "
        f"ORDER BY n.artifact_id LIMIT ? OFFSET ?",
        [*args, page_size, (page_no - 1) * page_size],
    ).to_arrow_table().to_pylist()
    items = []
    for r in rows:
        now = {t for t, f in FLAG_OF_TIER.items() if r[f"now_{f}"]}
        then = {t for t, f in FLAG_OF_TIER.items() if r[f"then_{f}"]}
        items.append({
            "artifact_id": r["artifact_id"], "product_name": r["product_name"], "removed": r["removed"],
            "nominal_classification": r["nominal_classification"],
            "previous_nominal_classification": r["previous_nominal_classification"],
            "classifications": [t for t in TIERS if t in now],
            "previous_classifications": [t for t in TIERS if t in then],
            "entered": [t for t in TIERS if t in now - then],
            "left": [t for t in TIERS if t in then - now],
            "spec_version": r["spec_version"], "previous_spec_version": r["previous_spec_version"],
        })
    return {"items": items, "page": page_no, "pageSize": page_size, "total": n,
            "totalPages": math.ceil(n / page_size) if n else 0}


def previous_tiers(cur: duckdb.DuckDBPyConnection, history: str, day: date | None,
                   artifact_ids: list[str]) -> dict[str, str]:
    """{artifact_id: nominal tier on `day`} for the given products (absent: no period then)."""
    if day is None or not artifact_ids:
        return {}
    rows = cur.execute(
        f"SELECT artifact_id, nominal_classification FROM ({state_on_sql(history)}) "
        f"WHERE list_contains(?, artifact_id)", [day, day, artifact_ids]).fetchall()
    return dict(rows)


def timeline(cur: duckdb.DuckDBPyConnection, history: str, daily: str, artifact_id: str,
             start: date, end: date) -> dict[str, Any]:
    """The periods overlapping `start`..`end` and the daily series (every day, zeros included)."""
    periods = cur.execute(
        f"SELECT * FROM {history} WHERE artifact_id = ? AND valid_from <= ? "
        f"AND (valid_to IS NULL OR valid_to > ?) ORDER BY valid_from", [artifact_id, end, start],
    ).to_arrow_table().to_pylist()
    sales = cur.execute(
        f"SELECT day, net_units, revenue, orders FROM {daily} WHERE artifact_id = ? AND day BETWEEN ? AND ?",
        [artifact_id, start, end],
    ).fetchall()
    by_day = {d: (u, r, o) for d, u, r, o in sales}
    series = []
    day = start
    while day <= end:
        u, r, o = by_day.get(day, (0, 0, 0))
        series.append({"day": day, "units": int(u), "net_revenue": float(r), "orders": int(o)})
        day += timedelta(days=1)
    return {
        "periods": [{
            "valid_from": p["valid_from"], "valid_to": p["valid_to"],
            "is_top_riser": p["is_top_riser"], "is_winner": p["is_winner"], "is_banana": p["is_banana"],
            "is_archive": p["is_archive"], "nominal_classification": p["nominal_classification"],
            "classifications": [t for t, f in FLAG_OF_TIER.items() if p[f]],
            "spec_version": p["spec_version"], "backfilled": p["backfilled"],
        } for p in periods],
        "daily": series,
    }


def known(cur: duckdb.DuckDBPyConnection, performance: str, history: str, artifact_id: str) -> bool:
    return cur.execute(
        f"SELECT EXISTS (SELECT 1 FROM {performance} WHERE artifact_id = ?) "
        f"OR EXISTS (SELECT 1 FROM {history} WHERE artifact_id = ?)", [artifact_id, artifact_id]).fetchone()[0]


def report(settings: Any, since: str | None, *, limit: int = 1000) -> dict[str, Any]:
    """Changes since `since` from the stored tables (the pair the API serves), for the CLI."""
    from datetime import datetime

    from perftiers import duck
    from perftiers.lakehouse import catalog, schemas
    from perftiers.refresh.history import pair, read

    p = pair(settings)
    day = resolve_since(since, as_of=p.as_of, previous=p.previous_as_of, today=datetime.now(settings.tz).date())
    table = catalog.load_existing(settings, catalog.PERFORMANCE)
    perf = (table.scan(snapshot_id=p.performance).to_arrow() if table is not None and p.performance is not None
            else schemas.PERFORMANCE.empty_table())
    con = duck.connect(settings)
    try:
        con.register("performance_rows", perf)
        con.register("history_rows", read(settings, p.history))
        values = flt.FilterValues()
        counts = moves(con, "performance_rows", "history_rows", day, values)
        moved = moved_page(con, "performance_rows", "history_rows", day, values, page_no=1, page_size=limit)
    finally:
        con.close()
    return {"since": day, "as_of": p.as_of, "tiers": [{"tier": t, **counts[t]} for t in TIERS], **moved}
