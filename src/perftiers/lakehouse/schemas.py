"""Arrow schemas of the canonical store data and of the Iceberg tables.

Sources produce `PRODUCTS` and `ORDER_LINES` batches; the sync writes them to `raw.*`;
the refresh writes `PERFORMANCE` and `DAILY_SALES` to `measurement.*`.
"""

from __future__ import annotations

import pyarrow as pa

MONEY = pa.decimal128(18, 4)
TS = pa.timestamp("us", tz="UTC")

PRODUCTS = pa.schema(
    [
        pa.field("artifact_id", pa.string(), nullable=False),
        pa.field("product_name", pa.string()),
        pa.field("product_type", pa.string()),
        pa.field("vendor", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("is_active", pa.bool_(), nullable=False),
        pa.field("launched_at", TS),
    ]
)

ORDER_LINES = pa.schema(
    [
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("line_id", pa.string(), nullable=False),
        pa.field("ordered_at", TS, nullable=False),
        pa.field("artifact_id", pa.string(), nullable=False),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("unit_price", MONEY, nullable=False),
        pa.field("discount", MONEY, nullable=False),
        pa.field("refunded_quantity", pa.int64(), nullable=False),
        pa.field("cancelled", pa.bool_(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
    ]
)

METRIC_COLUMNS = (
    "sales_first_7_days",
    "sales_first_14_days",
    "sales_last_30_days",
    "aggregate_measurement_value",
)

PERFORMANCE = pa.schema(
    [
        *PRODUCTS,  # a product's own fields, then what the refresh computes
        pa.field("launch_date", pa.date32()),
        pa.field("sales_first_7_days", pa.int64(), nullable=False),
        pa.field("sales_first_14_days", pa.int64(), nullable=False),
        pa.field("sales_last_30_days", pa.int64(), nullable=False),
        pa.field("aggregate_measurement_value", pa.int64(), nullable=False),
        pa.field("revenue_last_30_days", MONEY, nullable=False),
        pa.field("lifetime_revenue", MONEY, nullable=False),
        pa.field("is_top_riser", pa.bool_(), nullable=False),
        pa.field("is_winner", pa.bool_(), nullable=False),
        pa.field("is_banana", pa.bool_(), nullable=False),
        pa.field("is_archive", pa.bool_(), nullable=False),
        pa.field("nominal_classification", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("spec_version", pa.int64(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("refreshed_at", TS, nullable=False),
    ]
)

DAILY_SALES = pa.schema(
    [
        pa.field("artifact_id", pa.string(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("net_units", pa.int64(), nullable=False),
        pa.field("revenue", MONEY, nullable=False),
        pa.field("orders", pa.int64(), nullable=False),
    ]
)


TIER_HISTORY = pa.schema(
    [
        pa.field("artifact_id", pa.string(), nullable=False),
        pa.field("valid_from", pa.date32(), nullable=False),
        pa.field("valid_to", pa.date32()),
        pa.field("is_top_riser", pa.bool_(), nullable=False),
        pa.field("is_winner", pa.bool_(), nullable=False),
        pa.field("is_banana", pa.bool_(), nullable=False),
        pa.field("is_archive", pa.bool_(), nullable=False),
        pa.field("nominal_classification", pa.string(), nullable=False),
        pa.field("spec_version", pa.int64(), nullable=False),
        pa.field("backfilled", pa.bool_(), nullable=False),
    ]
)
"""`measurement.tier_history`: one row per product per period of unchanged tier state.

The state on day X is the row with `valid_from <= X < valid_to` (`valid_to` NULL: still current).
`backfilled`: the period began on a day computed by `perftiers history backfill`."""


def conform(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast `data` to `schema` (names, order, types and nullability).

    Query engines return every column as nullable; Iceberg required fields need non-nullable
    Arrow fields, so the schema is applied here in one place.
    """
    return data.select(schema.names).cast(schema)
