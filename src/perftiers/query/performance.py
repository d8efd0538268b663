"""Reads of `measurement.performance` for the API: list, one row, summary, facets, preview, export.

Every function takes the request's `Snapshot` and cursor; filters come from `query.filters`,
tier rules and reasons from `perftiers.rules`. Counts and summaries are cached per snapshot
and filter, so paging through a result costs one page query.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Iterator

import duckdb
import pyarrow as pa

from perftiers import rules
from perftiers.lakehouse import schemas
from perftiers.query import filters as flt
from perftiers.query.snapshot import Snapshot

PUBLIC_COLUMNS = tuple(schemas.PERFORMANCE.names)
SELECT_COLUMNS = ", ".join(PUBLIC_COLUMNS)
FLAGS = tuple(rules.FLAG_OF_TIER.items())


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Rows of the last query (through Arrow: DuckDB's own TIMESTAMPTZ conversion needs pytz)."""
    return cur.to_arrow_table().to_pylist()


_BEFORE_TIERS = PUBLIC_COLUMNS[:PUBLIC_COLUMNS.index("nominal_classification") + 1]
_AFTER_TIERS = PUBLIC_COLUMNS[len(_BEFORE_TIERS):]


def to_item(row: dict[str, Any], spec_of: Any) -> dict[str, Any]:
    """A stored row as the API shows it: numbers as JSON numbers, flags listed, reasons added.

    Keys come in `PerformanceMetric`'s field order (`classifications` and `reasons` after
    `nominal_classification`), so the list can be written as JSON without the model."""
    item = {k: row[k] for k in _BEFORE_TIERS}
    for k in ("revenue_last_30_days", "lifetime_revenue"):
        if isinstance(item[k], Decimal):
            item[k] = float(item[k])
    item["tags"] = list(item["tags"] or [])
    item["classifications"] = [tier for tier, flag in FLAGS if row[flag]]
    item["reasons"] = rules.reasons(row, spec_of(row["spec_version"]))
    for k in _AFTER_TIERS:
        item[k] = row[k]
    return item


Extra = tuple[str, list[Any], Any]
"""An extra WHERE condition, its parameters, and a cache key for it (`query.history.changed_since`)."""


def _where(values: flt.FilterValues, extra: Extra | None) -> tuple[str, list[Any]]:
    where, params = flt.where(values)
    if extra is None:
        return where, params
    return f"({where}) AND ({extra[0]})", [*params, *extra[1]]


def total(s: Snapshot, cur: duckdb.DuckDBPyConnection, values: flt.FilterValues, extra: Extra | None = None) -> int:
    def compute() -> int:
        where, params = _where(values, extra)
        return cur.execute(f"SELECT COUNT(*) FROM {s.performance} WHERE {where}", params).fetchone()[0]

    if not values.values and extra is None:
        return s.row_count
    return s.cache.get_or_compute(("total", values.key, extra[2] if extra else None), compute)


def page(s: Snapshot, cur: duckdb.DuckDBPyConnection, values: flt.FilterValues, *, sort: str | None,
         order: str | None, page_no: int, page_size: int, spec_of: Any,
         extra: Extra | None = None) -> dict[str, Any]:
    n = total(s, cur, values, extra)
    items: list[dict[str, Any]] = []
    offset = (page_no - 1) * page_size
    if offset < n:
        cur.execute(*_page_query(s, values, extra, sort, order, offset, page_size))
        items = [to_item(r, spec_of) for r in _dicts(cur)]
    return {"items": items, "page": page_no, "pageSize": page_size, "total": n,
            "totalPages": math.ceil(n / page_size) if n else 0}


def _page_query(s: Snapshot, values: flt.FilterValues, extra: Extra | None, sort: str | None,
                order: str | None, offset: int, page_size: int) -> tuple[str, list[Any]]:
    """SQL and parameters of one page's rows (public columns only).

    Unfiltered in the default order, the page is a range of the stored `_rank` (the table is
    stored in that order, so a deep page reads one row group). Otherwise late materialisation:
    sort and cut only the row ids, then read the page's rows."""
    if sort is None and extra is None and not values.values:
        if order == "asc":  # the default order reversed: ranks n - offset down to n - offset - page_size + 1
            high = s.row_count - offset
            return (f"SELECT {SELECT_COLUMNS} FROM {s.performance} WHERE _rank > ? AND _rank <= ? "
                    "ORDER BY _rank DESC", [high - page_size, high])
        return (f"SELECT {SELECT_COLUMNS} FROM {s.performance} WHERE _rank > ? AND _rank <= ? ORDER BY _rank",
                [offset, offset + page_size])
    where, params = _where(values, extra)
    ordering = flt.order_by(sort, order)
    # Sort only row ids to find the page, then read the page's rows: a deep page of a 1M-row
    # table no longer carries every column through the sort (165 -> 59 ms median at 1M rows,
    # page 18,000 by a metric).
    return (f"SELECT {SELECT_COLUMNS} FROM {s.performance} WHERE rowid IN ("
            f"SELECT rowid FROM {s.performance} WHERE {where} ORDER BY {ordering} LIMIT ? OFFSET ?"
            f") ORDER BY {ordering}", [*params, page_size, offset])


def one(s: Snapshot, cur: duckdb.DuckDBPyConnection, artifact_id: str, spec_of: Any) -> dict[str, Any] | None:
    cur.execute(f"SELECT {SELECT_COLUMNS} FROM {s.performance} WHERE artifact_id = ?", [artifact_id])
    rows = _dicts(cur)
    return to_item(rows[0], spec_of) if rows else None


def summary(s: Snapshot, cur: duckdb.DuckDBPyConnection, values: flt.FilterValues) -> dict[str, int]:
    def compute() -> dict[str, int]:
        where, params = flt.where(values)
        cur.execute(
            f"""SELECT COUNT(*) AS total, {rules.TIER_COUNT_COLUMNS},
                       COALESCE(SUM(aggregate_measurement_value), 0) AS aggregate_measurement_total,
                       COALESCE(SUM(sales_last_30_days), 0) AS sales_last_30_days
                FROM {s.performance} WHERE {where}""",
            params,
        )
        row = rules.named_counts(cur)
        return {"total_artifacts": row["total"], **rules.by_summary_field(row),
                "aggregate_measurement_total": row["aggregate_measurement_total"],
                "sales_last_30_days": row["sales_last_30_days"]}

    return dict(s.cache.get_or_compute(("summary", values.key), compute))


def _value_counts(s: Snapshot, cur: duckdb.DuckDBPyConnection, column: str, values: flt.FilterValues,
                  limit: int = 1000) -> list[dict[str, Any]]:
    where, params = flt.where(values)
    rows = cur.execute(
        f"SELECT {column} AS value, COUNT(*) AS n FROM {s.performance} WHERE {where} AND {column} IS NOT NULL "
        f"GROUP BY 1 ORDER BY n DESC, value LIMIT {int(limit)}",
        params,
    ).fetchall()
    return [{"value": v, "count": n} for v, n in rows]


def _tag_counts(s: Snapshot, cur: duckdb.DuckDBPyConnection, values: flt.FilterValues) -> list[tuple[str, int]]:
    where, params = flt.where(values)
    return cur.execute(
        f"SELECT tag, COUNT(*) AS n FROM (SELECT DISTINCT artifact_id, unnest(tags) AS tag FROM {s.performance} "
        f"WHERE {where}) GROUP BY 1 ORDER BY 1 LIMIT 5000",
        params,
    ).fetchall()


def facets(s: Snapshot, cur: duckdb.DuckDBPyConnection, values: flt.FilterValues) -> dict[str, Any]:
    """Counts per product type, vendor, tag (by category), tier and active state.

    Each facet is counted under every current filter except its own (for a tag category: except
    that category's tags), so the other choices of a facet stay visible with honest counts.
    """

    def compute() -> dict[str, Any]:
        chosen_tags: list[str] = values.get("tag") or []
        groups = flt.tag_groups(chosen_tags)
        counts: dict[str, dict[str, int]] = {}
        for tag, n in _tag_counts(s, cur, values):
            if flt.tag_category(tag) not in groups:
                counts.setdefault(flt.tag_category(tag), {})[tag] = n
        for category in groups:
            others = [t for c, ts in groups.items() if c != category for t in ts]
            for tag, n in _tag_counts(s, cur, values.with_tags(others)):
                if flt.tag_category(tag) == category:
                    counts.setdefault(category, {})[tag] = n
        tags = [
            {"category": category,
             "values": [{"value": t.split(":", 1)[1] if ":" in t else t, "tag": t, "count": n}
                        for t, n in sorted(tags_.items())]}
            for category, tags_ in sorted(counts.items(), key=lambda kv: (kv[0] == "", kv[0]))
        ]
        tier_counts = summary(s, cur, values.without("classification"))
        active = _value_counts(s, cur, "is_active", values.without("is_active"))
        return {
            "product_types": _value_counts(s, cur, "product_type", values.without("product_type")),
            "vendors": _value_counts(s, cur, "vendor", values.without("vendor")),
            "tags": tags,
            "classifications": [{"value": t.key, "count": tier_counts[t.summary_field]} for t in rules.TIER_TABLE],
            "is_active": [{"value": bool(a["value"]), "count": a["count"]} for a in active],
            "total": total(s, cur, values),
        }

    return s.cache.get_or_compute(("facets", values.key), compute)


def preview(s: Snapshot, cur: duckdb.DuckDBPyConnection, spec: rules.ClassificationSpec) -> dict[str, int]:
    """Tier counts `spec` would give on the served metrics (nothing is saved)."""
    return rules.tier_counts(cur, f"({rules.reclassify_sql(s.performance)})", rules.spec_params(spec))


def current_counts(s: Snapshot, cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return rules.tier_counts(cur, s.performance)


def export_batches(s: Snapshot, cur: duckdb.DuckDBPyConnection, values: flt.FilterValues, *,
                   sort: str | None, order: str | None, batch_rows: int = 10_000) -> Iterator[pa.RecordBatch]:
    """Every matching row in the requested order, as Arrow batches in the PERFORMANCE schema."""
    where, params = flt.where(values)
    cur.execute(
        f"SELECT {SELECT_COLUMNS} FROM {s.performance} WHERE {where} ORDER BY {flt.order_by(sort, order)}", params
    )
    reader = cur.to_arrow_reader(batch_rows)
    for batch in reader:
        yield batch
