"""The metric windows and the tier rules of SPEC.md, in one place.

Everything that computes a metric or a flag calls this module: the mart refresh (DuckDB SQL
built here), manual CRUD writes (which reclassify the table with the same SQL), the threshold
preview, and the `reasons` shown beside each row. Tests compare it with an independent
pure-Python reading of the rules (tests/test_refresh_property.py).

In:  `daily_sales` rows (artifact, store-local day, net units, revenue, orders) and products.
Out: per-artifact metrics, the four flags and `nominal_classification`.
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field

TIERS: tuple[str, ...] = ("top_riser", "winner", "banana", "archive_candidate")
"""Tiers in precedence order: the nominal classification is the first whose flag holds."""

FLAG_OF_TIER: dict[str, str] = {
    "top_riser": "is_top_riser",
    "winner": "is_winner",
    "banana": "is_banana",
    "archive_candidate": "is_archive",
}
NO_TIER = "none"


class ClassificationSpec(BaseModel):
    """Body of a `classification_spec` artifact: the four thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_riser_7_day_threshold: int = Field(default=400, ge=0, le=10**12)
    """Net units in the first 7 days from launch that make a top riser."""
    top_riser_14_day_threshold: int = Field(default=550, ge=0, le=10**12)
    """Net units in the first 14 days from launch that make a top riser."""
    winner_30_day_threshold: int = Field(default=75, ge=0, le=10**12)
    """Net units in the last 30 days that make a winner."""
    banana_count: int = Field(default=100, ge=0, le=10**9)
    """How many products, lowest lifetime net units first, are bananas."""


DEFAULT_SPEC = ClassificationSpec()


# -- metric windows ----------------------------------------------------------------------

def daily_sales_sql(lines: str) -> str:
    """Per artifact and store-local day up to `$as_of`: net units, net revenue, orders.

    `lines` names a relation with the canonical order-line columns. Parameters: `$tz`, `$as_of`.
    A cancelled line counts 0 units, 0 revenue and no order; lines after `$as_of` are ignored.
    """
    return f"""
        SELECT artifact_id,
               CAST(timezone($tz, ordered_at) AS DATE) AS day,
               CAST(SUM(CASE WHEN cancelled THEN 0 ELSE quantity - refunded_quantity END) AS BIGINT)
                   AS net_units,
               CAST(SUM(CASE WHEN cancelled THEN 0
                             ELSE (quantity - refunded_quantity) * unit_price - discount END)
                    AS DECIMAL(18, 4)) AS revenue,
               CAST(COUNT(DISTINCT CASE WHEN NOT cancelled THEN order_id END) AS BIGINT) AS orders
        FROM {lines}
        WHERE CAST(timezone($tz, ordered_at) AS DATE) <= $as_of
        GROUP BY ALL
    """


def metrics_sql(products: str, daily_sales: str) -> str:
    """Per product: launch date and its sales windows, from `daily_sales_sql` rows.

    Launch day L is the store-local date of `launched_at`, else the first day with a
    non-cancelled line. Windows: first 7 days L..L+6, first 14 days L..L+13, last 30 days
    D-29..D, lifetime up to D (daily_sales already stops at D, which caps every window).
    Parameters: `$tz`, `$as_of`.
    """
    return f"""
        WITH first_sale AS (
            SELECT artifact_id, MIN(day) AS first_day FROM {daily_sales} WHERE orders > 0 GROUP BY 1
        ),
        launched AS (
            SELECT p.*,
                   COALESCE(CAST(timezone($tz, p.launched_at) AS DATE), f.first_day) AS launch_date
            FROM {products} p LEFT JOIN first_sale f USING (artifact_id)
        )
        SELECT l.artifact_id, l.product_name, l.product_type, l.vendor, l.tags, l.is_active,
               l.launched_at, l.launch_date,
               CAST(COALESCE(SUM(d.net_units) FILTER (
                   WHERE d.day BETWEEN l.launch_date AND l.launch_date + 6), 0) AS BIGINT)
                   AS sales_first_7_days,
               CAST(COALESCE(SUM(d.net_units) FILTER (
                   WHERE d.day BETWEEN l.launch_date AND l.launch_date + 13), 0) AS BIGINT)
                   AS sales_first_14_days,
               CAST(COALESCE(SUM(d.net_units) FILTER (
                   WHERE d.day >= CAST($as_of AS DATE) - 29), 0) AS BIGINT) AS sales_last_30_days,
               CAST(COALESCE(SUM(d.net_units), 0) AS BIGINT) AS aggregate_measurement_value,
               CAST(COALESCE(SUM(d.revenue) FILTER (
                   WHERE d.day >= CAST($as_of AS DATE) - 29), 0) AS DECIMAL(18, 4))
                   AS revenue_last_30_days,
               CAST(COALESCE(SUM(d.revenue), 0) AS DECIMAL(18, 4)) AS lifetime_revenue
        FROM launched l LEFT JOIN {daily_sales} d USING (artifact_id)
        GROUP BY ALL
    """


# -- tier rules ----------------------------------------------------------------------------

SPEC_PARAMS = tuple(ClassificationSpec.model_fields)


def classify_sql(metrics: str) -> str:
    """All columns of `metrics` with the flags and nominal tier replaced by the rules' values.

    Parameters: the four thresholds by name (`$top_riser_7_day_threshold`, ...). Bananas rank
    over the whole relation: ascending aggregate_measurement_value, ties by artifact_id in
    byte order (DuckDB's default binary collation).
    """
    return f"""
        WITH flagged AS (
            SELECT * EXCLUDE (is_top_riser, is_winner, is_banana, is_archive, nominal_classification),
                   (sales_first_7_days >= $top_riser_7_day_threshold
                    OR sales_first_14_days >= $top_riser_14_day_threshold) AS is_top_riser,
                   sales_last_30_days >= $winner_30_day_threshold AS is_winner,
                   ROW_NUMBER() OVER (ORDER BY aggregate_measurement_value ASC, artifact_id ASC)
                       <= $banana_count AS is_banana,
                   (NOT is_active AND sales_last_30_days = 0) AS is_archive
            FROM {metrics}
        )
        SELECT *,
               CASE WHEN is_top_riser THEN 'top_riser'
                    WHEN is_winner THEN 'winner'
                    WHEN is_banana THEN 'banana'
                    WHEN is_archive THEN 'archive_candidate'
                    ELSE '{NO_TIER}' END AS nominal_classification
        FROM flagged
    """


def spec_params(spec: ClassificationSpec) -> dict[str, int]:
    return spec.model_dump()


def tier_counts_sql(classified: str) -> str:
    """One row: the number of rows carrying each flag (and the total)."""
    return f"""
        SELECT COUNT(*) AS total,
               COUNT(*) FILTER (WHERE is_top_riser) AS top_riser,
               COUNT(*) FILTER (WHERE is_winner) AS winner,
               COUNT(*) FILTER (WHERE is_banana) AS banana,
               COUNT(*) FILTER (WHERE is_archive) AS archive_candidate
        FROM {classified}
    """


def reasons(row: Mapping[str, Any], spec: ClassificationSpec) -> list[str]:
    """One short sentence per flag the row carries, naming metric, value and threshold."""
    out: list[str] = []
    if row.get("is_top_riser"):
        if row["sales_first_7_days"] >= spec.top_riser_7_day_threshold:
            out.append(
                f"sales_first_7_days {row['sales_first_7_days']} >= "
                f"top_riser_7_day_threshold {spec.top_riser_7_day_threshold}"
            )
        if row["sales_first_14_days"] >= spec.top_riser_14_day_threshold:
            out.append(
                f"sales_first_14_days {row['sales_first_14_days']} >= "
                f"top_riser_14_day_threshold {spec.top_riser_14_day_threshold}"
            )
    if row.get("is_winner"):
        out.append(
            f"sales_last_30_days {row['sales_last_30_days']} >= "
            f"winner_30_day_threshold {spec.winner_30_day_threshold}"
        )
    if row.get("is_banana"):
        out.append(
            f"aggregate_measurement_value {row['aggregate_measurement_value']} is among the lowest "
            f"banana_count {spec.banana_count}"
        )
    if row.get("is_archive"):
        out.append("is_active false and sales_last_30_days 0")
    return out


# -- tier history: every day of a range in one pass (`perftiers history backfill`) -------------
# The same windows and rules as above, for each reference date D of `$from`..`$to` at once.

def daily_metrics_sql(products: str, daily_sales: str) -> str:
    """Per product and day D in `$from`..`$to`: the windows `metrics_sql` gives for reference date D.

    `daily_sales` must be `daily_sales_sql` rows up to `$to`. One pass: a dense product x day grid
    from `$from - 29`, running sums per product (lifetime, first 7 / 14 days from launch) plus what
    came before the grid, and a 30-row frame for the last 30 days. The launch day is fixed per
    product (a first sale after D adds nothing to D's windows, as in `metrics_sql`).
    The four flags and the nominal tier are NULL placeholders for `classify_by_day_sql`.
    Parameters: `$tz`, `$from`, `$to`.
    """
    return f"""
        WITH first_sale AS (
            SELECT artifact_id, MIN(day) AS first_day FROM {daily_sales} WHERE orders > 0 GROUP BY 1
        ),
        launched AS (
            SELECT p.artifact_id, p.is_active,
                   COALESCE(CAST(timezone($tz, p.launched_at) AS DATE), f.first_day) AS launch_date
            FROM {products} p LEFT JOIN first_sale f USING (artifact_id)
        ),
        before_grid AS (
            SELECT l.artifact_id,
                   SUM(d.net_units) AS lifetime,
                   SUM(d.net_units) FILTER (WHERE d.day BETWEEN l.launch_date AND l.launch_date + 6) AS first_7,
                   SUM(d.net_units) FILTER (WHERE d.day BETWEEN l.launch_date AND l.launch_date + 13) AS first_14
            FROM launched l JOIN {daily_sales} d USING (artifact_id)
            WHERE d.day < CAST($from AS DATE) - 29
            GROUP BY 1
        ),
        days AS (
            SELECT CAST(range AS DATE) AS day
            FROM range(CAST(CAST($from AS DATE) - 29 AS TIMESTAMP), CAST(CAST($to AS DATE) + 1 AS TIMESTAMP),
                       INTERVAL 1 DAY)
        ),
        grid AS (
            SELECT l.artifact_id, l.is_active, l.launch_date, g.day, COALESCE(d.net_units, 0) AS units
            FROM launched l CROSS JOIN days g
            LEFT JOIN {daily_sales} d ON d.artifact_id = l.artifact_id AND d.day = g.day
        ),
        windowed AS (
            SELECT g.artifact_id, g.day, g.is_active,
                   CAST(COALESCE(b.first_7, 0) + SUM(CASE WHEN g.day BETWEEN g.launch_date AND g.launch_date + 6
                                                         THEN g.units ELSE 0 END) OVER running AS BIGINT)
                       AS sales_first_7_days,
                   CAST(COALESCE(b.first_14, 0) + SUM(CASE WHEN g.day BETWEEN g.launch_date AND g.launch_date + 13
                                                          THEN g.units ELSE 0 END) OVER running AS BIGINT)
                       AS sales_first_14_days,
                   CAST(SUM(g.units) OVER (PARTITION BY g.artifact_id ORDER BY g.day
                                           ROWS BETWEEN 29 PRECEDING AND CURRENT ROW) AS BIGINT)
                       AS sales_last_30_days,
                   CAST(COALESCE(b.lifetime, 0) + SUM(g.units) OVER running AS BIGINT)
                       AS aggregate_measurement_value
            FROM grid g LEFT JOIN before_grid b USING (artifact_id)
            WINDOW running AS (PARTITION BY g.artifact_id ORDER BY g.day ROWS UNBOUNDED PRECEDING)
        )
        SELECT *, CAST(NULL AS BOOLEAN) AS is_top_riser, CAST(NULL AS BOOLEAN) AS is_winner,
               CAST(NULL AS BOOLEAN) AS is_banana, CAST(NULL AS BOOLEAN) AS is_archive,
               CAST(NULL AS VARCHAR) AS nominal_classification
        FROM windowed WHERE day >= CAST($from AS DATE)
    """


def classify_by_day_sql(metrics: str) -> str:
    """`classify_sql` for many reference dates at once: `metrics` has a `day` column and the four
    thresholds as columns (the spec in force that day); bananas rank within each day.

    Built from `classify_sql`'s own text, so the rules are written once."""
    sql = classify_sql(metrics)
    for name in SPEC_PARAMS:
        assert f"${name}" in sql, name
        sql = sql.replace(f"${name}", name)
    assert sql.count("OVER (ORDER BY") == 1, "classify_sql's banana rank changed shape"
    return sql.replace("OVER (ORDER BY", "OVER (PARTITION BY day ORDER BY")
