"""The metric windows, the tier rules and the table of tiers (names, labels, rules in words), in one place.

Everything that computes a metric or a flag calls this module: the mart refresh (DuckDB SQL
built here), manual CRUD writes (which reclassify the table with the same SQL), the threshold
preview, the tier counts, and the `reasons` shown beside each row; the dashboard reads the tier
table and the threshold help through the API's `/schema`. Tests compare it with an independent
pure-Python reading of the rules (tests/test_refresh_property.py).

In:  `daily_sales` rows (artifact, store-local day, net units, revenue, orders) and products.
Out: per-artifact metrics, the four flags and `nominal_classification`.
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field


class Tier(BaseModel):
    """One tier, as every layer names it (the API's `/schema` lists these for the dashboard)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    key: str
    """The tier's name in the API: `classification`, `classifications`, `nominal_classification`."""
    flag: str
    """The boolean column that holds the tier's flag."""
    label: str
    """One product of the tier, in words."""
    plural: str
    """The tier's products, in words (the summary cards, the threshold preview)."""
    badge: str
    """The short label of a row's badge."""
    summary_field: str
    """The tier's count in the summary (`/stats/summary`) and in a refresh run's counts."""
    rule: str
    """The rule in plain words."""


TIER_TABLE: tuple[Tier, ...] = (
    Tier(key="top_riser", flag="is_top_riser", label="Top riser", plural="Top risers", badge="Top riser",
         summary_field="top_risers",
         rule="Sold at least the 7-day threshold in its first 7 days from launch, "
              "or at least the 14-day threshold in its first 14 days."),
    Tier(key="winner", flag="is_winner", label="Winner", plural="Winners", badge="Winner", summary_field="winners",
         rule="Sold at least the 30-day threshold in the last 30 days."),
    Tier(key="banana", flag="is_banana", label="Banana", plural="Bananas", badge="Banana", summary_field="bananas",
         rule="Among the banana count of products with the fewest lifetime units (ties by product id)."),
    Tier(key="archive_candidate", flag="is_archive", label="Archive candidate", plural="Archive candidates",
         badge="Archive", summary_field="archive_candidates",
         rule="Inactive and no sales in the last 30 days."),
)
"""Every tier, in precedence order: the nominal classification is the first whose flag holds."""

TIERS: tuple[str, ...] = tuple(t.key for t in TIER_TABLE)
FLAG_OF_TIER: dict[str, str] = {t.key: t.flag for t in TIER_TABLE}
FLAGS: tuple[str, ...] = tuple(FLAG_OF_TIER.values())
NO_TIER = "none"
CLASSIFIED_COLUMNS: tuple[str, ...] = (*FLAGS, "nominal_classification")
"""The columns `classify_sql` adds; a relation that has them excludes them before reclassifying."""


class ClassificationSpec(BaseModel):
    """Body of a `classification_spec` artifact: the four thresholds.

    Each field's title and docstring are its label and help wherever it is shown (OpenAPI, the
    dashboard's thresholds dialog through `/schema`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    top_riser_7_day_threshold: int = Field(default=400, ge=0, le=10**12, title="Top riser: units in first 7 days")
    """Net units in the first 7 days from launch that make a top riser."""
    top_riser_14_day_threshold: int = Field(default=550, ge=0, le=10**12, title="Top riser: units in first 14 days")
    """Net units in the first 14 days from launch that make a top riser."""
    winner_30_day_threshold: int = Field(default=75, ge=0, le=10**12, title="Winner: units in last 30 days")
    """Net units in the last 30 days that make a winner."""
    banana_count: int = Field(default=100, ge=0, le=10**9, title="Banana count")
    """How many products, lowest lifetime net units first, are bananas."""


DEFAULT_SPEC = ClassificationSpec()


# -- store-local days ------------------------------------------------------------------------

def local_day_sql(timestamp: str) -> str:
    """The store-local calendar day of the TIMESTAMPTZ expression `timestamp`. Parameter: `$tz`.

    DuckDB's own `CAST(... AS DATE)` would give the UTC day."""
    return f"CAST(timezone($tz, {timestamp}) AS DATE)"


def launch_date_sql(launched_at: str, first_sale_day: str | None = None) -> str:
    """Launch day L: the store-local day of `launched_at`, else `first_sale_day` (the first day with
    a non-cancelled line) when given. Parameter: `$tz`."""
    day = local_day_sql(launched_at)
    return day if first_sale_day is None else f"COALESCE({day}, {first_sale_day})"


# -- metric windows ----------------------------------------------------------------------

def daily_sales_sql(lines: str) -> str:
    """Per artifact and store-local day up to `$as_of`: net units, net revenue, orders.

    `lines` names a relation with the canonical order-line columns. Parameters: `$tz`, `$as_of`.
    A cancelled line counts 0 units, 0 revenue and no order; lines after `$as_of` are ignored.
    """
    return f"""
        SELECT artifact_id,
               {local_day_sql('ordered_at')} AS day,
               CAST(SUM(CASE WHEN cancelled THEN 0 ELSE quantity - refunded_quantity END) AS BIGINT)
                   AS net_units,
               CAST(SUM(CASE WHEN cancelled THEN 0
                             ELSE (quantity - refunded_quantity) * unit_price - discount END)
                    AS DECIMAL(18, 4)) AS revenue,
               CAST(COUNT(DISTINCT CASE WHEN NOT cancelled THEN order_id END) AS BIGINT) AS orders
        FROM {lines}
        WHERE {local_day_sql('ordered_at')} <= $as_of
        GROUP BY ALL
    """


def metrics_sql(products: str, daily_sales: str) -> str:
    """Per product: launch date and its sales windows, from `daily_sales_sql` rows.

    Launch day L is the store-local date of `launched_at`, else the first day with a
    non-cancelled line. Windows: first 7 days L..L+6, first 14 days L..L+13, last 30 days
    D-29..D, lifetime up to D (daily_sales already stops at D, which caps every window).
    Parameters: `$tz`, `$as_of`. The windows are summed per artifact id before the product's
    columns are joined: grouping by those (tags included) took twice as long at 100k products.
    """
    return f"""
        WITH first_sale AS (
            SELECT artifact_id, MIN(day) AS first_day FROM {daily_sales} WHERE orders > 0 GROUP BY 1
        ),
        launched AS (
            SELECT p.artifact_id, {launch_date_sql('p.launched_at', 'f.first_day')} AS launch_date
            FROM {products} p LEFT JOIN first_sale f USING (artifact_id)
        ),
        windows AS (
            SELECT l.artifact_id,
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
            GROUP BY l.artifact_id
        )
        SELECT p.artifact_id, p.product_name, p.product_type, p.vendor, p.tags, p.is_active,
               p.launched_at, l.launch_date, w.* EXCLUDE (artifact_id)
        FROM {products} p JOIN launched l USING (artifact_id) JOIN windows w USING (artifact_id)
    """


# -- tier rules ----------------------------------------------------------------------------

SPEC_PARAMS = tuple(ClassificationSpec.model_fields)


def classify_sql(metrics: str) -> str:
    """All columns of `metrics` plus the flags and the nominal tier (`CLASSIFIED_COLUMNS`).

    `metrics` must not have those columns already (see `reclassify_sql`). Parameters: the four
    thresholds by name (`$top_riser_7_day_threshold`, ...). Bananas rank over the whole relation:
    ascending aggregate_measurement_value, ties by artifact_id in byte order (DuckDB's default
    binary collation).
    """
    nominal = " ".join(f"WHEN {t.flag} THEN '{t.key}'" for t in TIER_TABLE)
    return f"""
        WITH flagged AS (
            SELECT *,
                   (sales_first_7_days >= $top_riser_7_day_threshold
                    OR sales_first_14_days >= $top_riser_14_day_threshold) AS is_top_riser,
                   sales_last_30_days >= $winner_30_day_threshold AS is_winner,
                   ROW_NUMBER() OVER (ORDER BY aggregate_measurement_value ASC, artifact_id ASC)
                       <= $banana_count AS is_banana,
                   (NOT is_active AND sales_last_30_days = 0) AS is_archive
            FROM {metrics}
        )
        SELECT *, CASE {nominal} ELSE '{NO_TIER}' END AS nominal_classification
        FROM flagged
    """


def tier_rank_sql(column: str = "nominal_classification") -> str:
    """SQL ranking a nominal tier by precedence: 1 for the first tier of TIER_TABLE, ..., then `none`
    last, so sorting by tier goes top riser, winner, banana, archive candidate, none (not key text)."""
    ranks = " ".join(f"WHEN '{t.key}' THEN {i}" for i, t in enumerate(TIER_TABLE, start=1))
    return f"(CASE {column} {ranks} ELSE {len(TIER_TABLE) + 1} END)"


def reclassify_sql(classified: str) -> str:
    """`classify_sql` for a relation that already carries flags: they are dropped and computed anew."""
    return classify_sql(f"(SELECT * EXCLUDE ({', '.join(CLASSIFIED_COLUMNS)}) FROM {classified})")


def spec_params(spec: ClassificationSpec) -> dict[str, int]:
    return spec.model_dump()


TIER_COUNT_COLUMNS = ", ".join(f"COUNT(*) FILTER (WHERE {t.flag}) AS {t.key}" for t in TIER_TABLE)
"""Select-list items counting each tier's flag, one column per tier key."""


def tier_counts_sql(classified: str) -> str:
    """One row: `total` and, in a column named by each tier key, the rows whose flag holds."""
    return f"SELECT COUNT(*) AS total, {TIER_COUNT_COLUMNS} FROM {classified}"


def tier_counts(cur: Any, classified: str, params: Any = None) -> dict[str, int]:
    """Run `tier_counts_sql` on the DuckDB cursor `cur`: `{"total": n, "<tier key>": n, ...}`."""
    cur.execute(tier_counts_sql(classified), params)
    return named_counts(cur)


def named_counts(cur: Any) -> dict[str, int]:
    """The one row of the cursor's last query, by column name, as integers."""
    names = [d[0] for d in cur.description]
    return dict(zip(names, (int(v) for v in cur.fetchone())))


def by_summary_field(counts: Mapping[str, int]) -> dict[str, int]:
    """Tier counts keyed by tier key -> the same counts keyed by each tier's `summary_field`."""
    return {t.summary_field: counts[t.key] for t in TIER_TABLE}


def _units(n: int) -> str:
    return f"{n:,} unit{'' if n == 1 else 's'}"


def reasons(row: Mapping[str, Any], spec: ClassificationSpec) -> list[dict[str, Any]]:
    """Why the row carries each of its flags: `{tier, metric, value, threshold, text}`, `text`
    in plain words. A top riser over both thresholds has two reasons."""
    out: list[dict[str, Any]] = []

    def add(tier: str, metric: str, threshold: int | None, text: str) -> None:
        out.append({"tier": tier, "metric": metric, "value": row[metric], "threshold": threshold, "text": text})

    if row.get("is_top_riser"):
        for days, metric, threshold in ((7, "sales_first_7_days", spec.top_riser_7_day_threshold),
                                        (14, "sales_first_14_days", spec.top_riser_14_day_threshold)):
            if row[metric] >= threshold:
                add("top_riser", metric, threshold,
                    f"Sold {_units(row[metric])} in its first {days} days; a top riser needs {threshold:,}")
    if row.get("is_winner"):
        value, threshold = row["sales_last_30_days"], spec.winner_30_day_threshold
        add("winner", "sales_last_30_days", threshold,
            f"Sold {_units(value)} in the last 30 days; a winner needs {threshold:,}")
    if row.get("is_banana"):
        n = spec.banana_count
        add("banana", "aggregate_measurement_value", n,
            f"Sold {_units(row['aggregate_measurement_value'])} in its lifetime, "
            + ("the lowest" if n == 1 else f"among the {n:,} lowest"))
    if row.get("is_archive"):
        add("archive_candidate", "sales_last_30_days", None, "Inactive and no sales in the last 30 days")
    return out


# -- tier history: every day of a range in one pass (`perftiers history backfill`) -------------
# The same windows and rules as above, for each reference date D of `$from`..`$to` at once.

def daily_metrics_sql(products: str, daily_sales: str) -> str:
    """Per product and day D in `$from`..`$to`: the windows `metrics_sql` gives for reference date D.

    `daily_sales` must be `daily_sales_sql` rows up to `$to`. One pass: a dense product x day grid
    from `$from - 29`, running sums per product (lifetime, first 7 / 14 days from launch) plus what
    came before the grid, and a 30-row frame for the last 30 days. The launch day is fixed per
    product (a first sale after D adds nothing to D's windows, as in `metrics_sql`).
    Parameters: `$tz`, `$from`, `$to`.
    """
    return f"""
        WITH first_sale AS (
            SELECT artifact_id, MIN(day) AS first_day FROM {daily_sales} WHERE orders > 0 GROUP BY 1
        ),
        launched AS (
            SELECT p.artifact_id, p.is_active, {launch_date_sql('p.launched_at', 'f.first_day')} AS launch_date
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
        SELECT * FROM windowed WHERE day >= CAST($from AS DATE)
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
