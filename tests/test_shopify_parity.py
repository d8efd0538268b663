"""Issue 12: one store, two ways in. The same New York shop read from its CSV exports (`shopify-csv`, laid
out as the Shopify admin writes them) and from the Admin API (the replay server of tests/fake_shopify.py)
gives the same units and the same revenue, to the cent, for every product and every day after a refresh.

The store has an order-level discount code on a multi-line order (the CSV export carries it only in the
order's `Discount Amount`), a product discount plus a code on one order, a free-shipping code, a custom
line that maps to no product, a partial refund, a full refund, a cancellation, and sales late in the
evening in New York, which are the next day in UTC (both sides of the DST change on March 9)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from perftiers.lakehouse import catalog
from perftiers.settings import load_settings
from perftiers.sources import make_source
from tests import pipeline
from tests.fake_shopify import gql_line, gql_order, gql_product
from tests.test_shopify_api import make_settings, source, store
from tests.test_shopify_csv import ORDER_HEADER, PRODUCT_HEADER, product, real_order, variant, write_csv

NEW_YORK = ZoneInfo("America/New_York")
AS_OF = date(2025, 3, 20)
NOW = datetime.fromisoformat("2025-03-20T12:00:00+00:00")
SPEC = dict(top_riser_7_day_threshold=3, top_riser_14_day_threshold=4, winner_30_day_threshold=3, banana_count=1)

PRODUCTS = [  # handle, title, type, vendor, tags, status, SKUs
    ("classic-tee", "Classic Tee", "T-Shirt", "Acme", ["cotton", "category:tops"], "ACTIVE", ["TEE-S", "TEE-M"]),
    ("zip-hoodie", "Zip Hoodie", "Hoodie", "Northwind", ["category:outerwear"], "ACTIVE", ["HOOD-1"]),
    ("latte-mug", "Latte Mug", "Mug", "Kaffee GmbH", [], "DRAFT", ["MUG-1"]),
    ("tote-bag", "Tote Bag", "Bag", "Acme", ["gift"], "ARCHIVED", ["TOTE-1"]),
    ("wool-socks", "Wool Socks", "Socks", "Acme", [], "ACTIVE", ["SOCK-1"]),
]
TITLE = {"classic-tee": "Classic Tee - S", "zip-hoodie": "Zip Hoodie", "latte-mug": "Latte Mug", "tote-bag": "Tote Bag"}
SKU = {"classic-tee": "TEE-S", "zip-hoodie": "HOOD-1", "latte-mug": "MUG-1", "tote-bag": "TOTE-1"}


# Each order once: (name, processed at (UTC), lines, order fields). A line is (handle or None for a custom
# item, quantity, price, refunded units, the line's own discount, its share of the order-level discount).
# The shares are what Shopify's discountAllocations carry; the CSV export has only Discount Amount.
ORDERS = [
    ("#1001", "2025-03-01T15:00:00Z", [("classic-tee", 2, "20.00", 0, "0", "4.00"),
                                       ("latte-mug", 1, "12.00", 0, "0", "1.20"), (None, 1, "3.00", 0, "0", "0.30")],
     dict(discount_code="WELCOME", discount_amount="5.50")),
    # 22:30 on March 2 in New York; a product discount of 6.00 on the tees plus a code of 7.70; one tee refunded
    ("#1002", "2025-03-03T03:30:00Z", [("zip-hoodie", 1, "60.00", 0, "0", "4.05"),
                                       ("classic-tee", 3, "20.00", 1, "6.00", "3.65")],
     dict(discount_code="TEES, SAVE", discount_amount="13.70", status="partially_refunded", refunded="16.78")),
    ("#1003", "2025-03-05T14:00:00Z", [("latte-mug", 2, "12.00", 2, "0", "0")],
     dict(status="voided", cancelled="2025-03-05T15:00:00Z")),
    # a free-shipping code: in Discount Amount, not in Subtotal, on no line
    ("#1004", "2025-03-08T04:30:00Z", [("tote-bag", 1, "25.00", 0, "0", "0"),
                                       ("latte-mug", 1, "12.00", 0, "0", "0")],
     dict(discount_code="FREESHIP", discount_amount="5.00", subtotal="37.00", shipping="0.00")),
    ("#1005", "2025-03-10T13:00:00Z", [("classic-tee", 1, "20.00", 1, "0", "0")], dict(status="refunded", refunded="20.00")),
    # 23:59 on March 11 in New York (EDT); a code of 10.00 on three lines: 1.59 + 0.76, the hoodies the rest
    ("#1006", "2025-03-12T03:59:00Z", [("zip-hoodie", 2, "60.00", 0, "0", "7.65"),
                                       ("tote-bag", 1, "25.00", 0, "0", "1.59"), ("latte-mug", 1, "12.00", 0, "0", "0.76")],
     dict(discount_code="TENOFF", discount_amount="10.00")),
]

# By hand, in New York days: net units and revenue per product up to March 20.
EXPECTED = {
    "classic-tee": (4, Decimal("69.5667")),   # Mar 1: 2 x 20 - 4.00; Mar 2: 2 x 20 - 9.65 x 2/3; Mar 10: refunded
    "zip-hoodie": (3, Decimal("168.3000")),   # Mar 2: 60 - 4.05; Mar 11: 120 - 7.65
    "latte-mug": (3, Decimal("34.0400")),     # Mar 1: 12 - 1.20; Mar 5 cancelled; Mar 7: 12; Mar 11: 12 - 0.76
    "tote-bag": (2, Decimal("48.4100")),      # Mar 7: 25; Mar 11: 25 - 1.59
    "wool-socks": (0, Decimal("0.0000")),
}


def local(utc: str) -> str:
    """A UTC time as the orders export writes it: `2025-03-02 22:30:00 -0500`."""
    return datetime.fromisoformat(utc.replace("Z", "+00:00")).astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S %z")


def api_shop():
    shop = store()
    shop.timezone = "America/New_York"
    shop.products = [gql_product(handle, title, status=status, updated="2025-02-01T00:00:00Z", product_type=type_,
                                 vendor=vendor, tags=tags, pid=i + 1)
                     for i, (handle, title, type_, vendor, tags, status, _) in enumerate(PRODUCTS)]
    shop.orders = []
    lid = 0
    for n, (name, at, lines, fields) in enumerate(ORDERS):
        items = []
        for handle, qty, price, refunded, own, share in lines:
            lid += 1
            discounts = tuple(d for d in (own, share) if Decimal(d))
            items.append(gql_line(lid, handle, qty, price, current=qty - refunded, sku=SKU.get(handle, ""),
                                  name=TITLE.get(handle, "Gift Wrap"), discounts=discounts))
        cancelled = fields.get("cancelled")
        status = fields.get("status", "paid").upper()
        shop.orders.append(gql_order(2000 + n, name, at, items, updated=at, cancelled=cancelled, status=status))
    return shop


def write_exports(folder) -> None:
    folder.mkdir()
    rows = []
    for handle, title, type_, vendor, tags, status, skus in PRODUCTS:
        rows.append(product(handle, title, vendor, type_, ", ".join(tags), "TRUE", status.lower(), skus[0],
                            option="S" if len(skus) > 1 else "Default Title"))
        rows += [variant(handle, "M", sku) for sku in skus[1:]]
    write_csv(folder / "products_export_1.csv", PRODUCT_HEADER, rows)
    orders = []
    for name, at, lines, fields in ORDERS:
        items = [(qty, TITLE.get(handle, "Gift Wrap"), price, SKU.get(handle, ""), f"{Decimal(own):.2f}")
                 for handle, qty, price, _, own, _ in lines]
        extra = {k: v for k, v in fields.items() if k != "cancelled"}
        if "cancelled" in fields:
            extra["cancelled"] = local(fields["cancelled"])
        orders += real_order(name, local(at), items, **extra)
    write_csv(folder / "orders_export_1.csv", ORDER_HEADER, orders)


def daily(settings) -> dict[tuple[str, date], tuple[int, Decimal, int]]:
    rows = pipeline.table_arrow(settings, catalog.DAILY_SALES).to_pylist()
    return {(r["artifact_id"], r["day"]): (r["net_units"], r["revenue"], r["orders"]) for r in rows}


COMPARED = ("product_name", "product_type", "vendor", "tags", "is_active", "launch_date", "sales_first_7_days",
            "sales_first_14_days", "sales_last_30_days", "aggregate_measurement_value", "revenue_last_30_days",
            "lifetime_revenue", "is_top_riser", "is_winner", "is_banana", "is_archive", "nominal_classification")


@pytest.fixture
def both(tmp_path, monkeypatch):
    monkeypatch.delenv("PERFTIERS_TIMEZONE", raising=False)
    with api_shop() as shop:
        api = make_settings(tmp_path / "api", monkeypatch, shop)  # no timezone: the shop's is used
        csv_settings = load_settings(home=tmp_path / "csv" / "data", timezone="America/New_York")
        yield shop, api, csv_settings, tmp_path / "exports"
        pipeline.close(api)
        pipeline.close(csv_settings)


def test_csv_exports_and_the_admin_api_give_the_same_units_and_revenue(both):
    shop, api, csv_settings, exports = both
    write_exports(exports)
    csv_run = pipeline.sync(csv_settings, make_source(csv_settings, "shopify-csv", str(exports)))
    api_run = pipeline.sync(api, source(api, NOW))
    for run in (csv_run, api_run):
        counts = run["counts"]
        assert (counts["orders"], counts["unmapped_order_lines"], counts["unmapped_units"]) == (6, 1, 1)
    for settings in (csv_settings, api):
        pipeline.set_spec(settings, **SPEC)
        pipeline.refresh(settings, AS_OF)

    csv_days, api_days = daily(csv_settings), daily(api)
    assert csv_days == api_days
    assert {day for (handle, day) in api_days if handle == "zip-hoodie"} == {date(2025, 3, 2), date(2025, 3, 11)}
    assert api_days[("latte-mug", date(2025, 3, 5))] == (0, Decimal("0.0000"), 0)  # the cancelled order

    csv_rows, api_rows = pipeline.performance(csv_settings), pipeline.performance(api)
    assert set(csv_rows) == set(api_rows) == set(EXPECTED)
    for handle, (units, revenue) in EXPECTED.items():
        assert {c: csv_rows[handle][c] for c in COMPARED} == {c: api_rows[handle][c] for c in COMPARED}, handle
        row = api_rows[handle]
        assert (row["aggregate_measurement_value"], row["lifetime_revenue"]) == (units, revenue), handle
        assert (row["sales_last_30_days"], row["revenue_last_30_days"]) == (units, revenue), handle
    assert api_run["counts"]["store_timezone"] == "America/New_York" == api.timezone
