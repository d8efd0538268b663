"""The shopify-csv source: Shopify's own exports through the real sync and refresh."""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from perftiers.errors import ConfigurationError
from perftiers.lakehouse import catalog
from perftiers.settings import load_settings
from perftiers.sources import make_source
from perftiers.sources.base import SourceRejected
from perftiers.sources.shopify.csv_exports import (
    ShopifyCsvSource,
    _Line,
    parse_amount,
    parse_timestamp,
    refunded_units,
)
from tests import pipeline

PRODUCT_HEADER = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Option1 Linked To", "Option2 Name", "Option2 Value", "Option2 Linked To",
    "Option3 Name", "Option3 Value", "Option3 Linked To", "Variant SKU", "Variant Grams",
    "Variant Inventory Tracker", "Variant Inventory Qty", "Variant Inventory Policy", "Variant Fulfillment Service",
    "Variant Price", "Variant Compare At Price", "Variant Requires Shipping", "Variant Taxable", "Variant Barcode",
    "Image Src", "Image Position", "Image Alt Text", "Gift Card", "SEO Title", "SEO Description", "Variant Image",
    "Variant Weight Unit", "Variant Tax Code", "Cost per item", "Status",
]
ORDER_HEADER = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City",
    "Billing Zip", "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at",
    "Payment Method", "Payment Reference", "Refunded Amount", "Vendor", "Outstanding Balance", "Employee",
    "Location", "Device ID", "Id", "Tags", "Risk Level", "Source", "Lineitem discount", "Tax 1 Name",
    "Tax 1 Value", "Tax 2 Name", "Tax 2 Value", "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value",
    "Tax 5 Name", "Tax 5 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name",
    "Shipping Province Name", "Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References",
]
"""The header of the Orders export as the Shopify admin writes it today (the same 79 columns in public
`orders_export_1.csv` files of real stores)."""


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]], bom: bool = True) -> Path:
    unknown = {k for r in rows for k in r} - set(header)
    assert not unknown, unknown
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])
    return path


def product(handle, title, vendor, type_, tags, published, status, sku, option="Default Title", **extra):
    """The first (product) row of a product, as Shopify exports it."""
    return {"Handle": handle, "Title": title, "Body (HTML)": extra.pop("body", ""), "Vendor": vendor, "Type": type_,
            "Tags": tags, "Published": published, "Option1 Name": "Title" if option == "Default Title" else "Color",
            "Option1 Value": option, "Variant SKU": sku, "Variant Price": "20.00", "Variant Inventory Policy": "deny",
            "Variant Fulfillment Service": "manual", "Gift Card": "false", "Status": status, **extra}


def variant(handle, option, sku):
    """A further variant row: only the handle and variant columns."""
    return {"Handle": handle, "Option1 Value": option, "Variant SKU": sku, "Variant Price": "20.00"}


PRODUCTS = [
    product("classic-tee", "Classic Tee", "Acme", "T-Shirt", "cotton, category:tops,  season:summer ", "TRUE",
            "active", "TEE-BLK-S", option="Black / S",
            body="<p>Soft, heavy cotton.</p>\n<p>Runs \"true\" to size.</p>", **{"Image Src": "https://cdn/tee.jpg"}),
    variant("classic-tee", "Black / M", "TEE-BLK-M"),
    variant("classic-tee", "White / S", "TEE-WHT-S"),
    {"Handle": "classic-tee", "Image Src": "https://cdn/tee-back.jpg", "Image Position": "2"},
    product("zip-hoodie", "Zip Hoodie - Limited", "Northwind", "Hoodie", "category:outerwear", "FALSE", "draft",
            "HOOD-S", option="S"),
    variant("zip-hoodie", "M", ""),
    product("old-cap", "Old Cap", "Acme", "Hat", "", "FALSE", "archived", "CAP-1"),
    product("wool-socks", "Wool Socks", "Acme", "Socks", "category:accessories", "TRUE", "active", "SOCK-1"),
    variant("wool-socks", "Natural", "SHARED-1"),
    product("latte-mug", 'Café "Latte" Mug', "Kaffee GmbH", "Mug", "category:kitchen, gift", "TRUE", "active",
            "MUG-1"),
    product("tote-bag", "Tote Bag", "Acme", "Bag", "", "TRUE", "unlisted", "TOTE-1", option="Black"),
    variant("tote-bag", "Natural", "SHARED-1"),
]


def order(name, created, items, *, status="paid", currency="USD", cancelled="", refunded="", **extra):
    """Rows of one order: order fields on the first row only, one row per line item."""
    rows = []
    for i, (qty, line_name, price, sku, discount) in enumerate(items):
        row = {"Name": name, "Email": "ann@example.com", "Lineitem quantity": str(qty), "Lineitem name": line_name,
               "Lineitem price": price, "Lineitem sku": sku, "Lineitem discount": discount,
               "Lineitem requires shipping": "true", "Lineitem taxable": "true",
               "Lineitem fulfillment status": "pending"}
        if i == 0:
            row.update({"Financial Status": status, "Currency": currency, "Created at": created,
                        "Cancelled at": cancelled, "Refunded Amount": refunded, "Subtotal": "0.00",
                        "Total": "0.00", "Billing Country": "US", "Source": "web", "Id": str(5_000_000 + len(name)),
                        **extra})
        rows.append(row)
    return rows


ORDERS = [
    *order("#0990", "2025-01-15 12:00:00 -0500", [(2, 'Café "Latte" Mug', "12.00", "MUG-1", "")]),
    *order("#1001", "2025-03-01 10:00:00 -0500", [
        (2, "Classic Tee - Black / S", "$20.00", "TEE-BLK-S", "$4.00"),
        (1, "Zip Hoodie - Limited - M", "$60.00", "", "0.00"),  # no SKU: the longest title that fits
    ]),
    *order("#1002", "2025-03-04 22:30:00 -0500", [  # 03:30 UTC on Mar 5, still Mar 4 in New York
        (3, "Classic Tee - Black / M", "20.00", "TEE-BLK-M", "6.00"),
        (1, 'Café "Latte" Mug', "12.00", "MUG-1", ""),
    ], status="partially_refunded", refunded="$21.60"),  # one tee + tax: greedy rule
    *order("#1003", "2025-03-05 09:00:00 -0500", [(1, "Classic Tee - White / S", "20.00", "TEE-WHT-S", "")],
           status="refunded", cancelled="2025-03-05 12:00:00 -0500", refunded="20.00"),
    *order("#1004", "2025-03-08 14:00:00 -0500", [(2, "Classic Tee - Black / S", "20.00", "TEE-BLK-S", "4.00")],
           status="refunded", refunded="$36.00"),
    *order("#1005", "2025-03-10 08:00:00 -0400", [
        (1, "Gift Wrap", "3.00", "GIFT-WRAP", ""),  # maps to nothing
        (5, "Classic Tee - Gold Edition", "$1,234.50", "TEE-GOLD-OLD", ""),  # unknown SKU, title fits
    ]),
    *order("#1006", "2025-03-12 19:15:00 +0100", [(4, 'Café "Latte" Mug', "€12,00", "MUG-1", "€2,40")],
           currency="EUR"),
    *order("#1007", "2025-03-18 23:59:00 -0400", [
        (2, "Tote Bag - Natural", "25.00", "SHARED-1", ""),  # SKU of two products: the title decides
        (1, "Mystery Box", "15.00", "", ""),  # maps to nothing
    ], status="partially_refunded", refunded="25.00"),  # exactly one tote
    *order("#1008", "2025-03-25 10:00:00 -0400", [(10, "Classic Tee - Black / S", "20.00", "TEE-BLK-S", "")]),
]

AS_OF = date(2025, 3, 20)
SPEC = dict(top_riser_7_day_threshold=5, top_riser_14_day_threshold=7, winner_30_day_threshold=5, banana_count=2)

# Worked by hand from the files above (store timezone America/New_York, D = 2025-03-20).
EXPECTED = {
    # #1001 2 units 40-4; #1002 3-1 refunded, discount 6 -> 4 kept: 40-4; #1003 cancelled; #1004 fully
    # refunded (discount goes with it); #1005 5 x 1234.50; #1008 after D. Launch Mar 1.
    "classic-tee": dict(launch_date=date(2025, 3, 1), sales_first_7_days=4, sales_first_14_days=9,
                        sales_last_30_days=9, aggregate_measurement_value=9,
                        revenue_last_30_days=Decimal("6244.5000"), lifetime_revenue=Decimal("6244.5000"),
                        flags={"is_top_riser", "is_winner"}, nominal="top_riser"),
    "zip-hoodie": dict(launch_date=date(2025, 3, 1), sales_first_7_days=1, sales_first_14_days=1,
                       sales_last_30_days=1, aggregate_measurement_value=1,
                       revenue_last_30_days=Decimal("60.0000"), lifetime_revenue=Decimal("60.0000"),
                       flags=set(), nominal="none"),
    # Jan 15 2 x 12; Mar 4 1 x 12; Mar 12 (EUR) 4 x 12 - 2.40.
    "latte-mug": dict(launch_date=date(2025, 1, 15), sales_first_7_days=2, sales_first_14_days=2,
                      sales_last_30_days=5, aggregate_measurement_value=7,
                      revenue_last_30_days=Decimal("57.6000"), lifetime_revenue=Decimal("81.6000"),
                      flags={"is_winner"}, nominal="winner"),
    # Mar 18 2 totes, one refunded.
    "tote-bag": dict(launch_date=date(2025, 3, 18), sales_first_7_days=1, sales_first_14_days=1,
                     sales_last_30_days=1, aggregate_measurement_value=1,
                     revenue_last_30_days=Decimal("25.0000"), lifetime_revenue=Decimal("25.0000"),
                     flags=set(), nominal="none"),
    "wool-socks": dict(launch_date=None, sales_first_7_days=0, sales_first_14_days=0, sales_last_30_days=0,
                       aggregate_measurement_value=0, revenue_last_30_days=Decimal("0.0000"),
                       lifetime_revenue=Decimal("0.0000"), flags={"is_banana"}, nominal="banana"),
    "old-cap": dict(launch_date=None, sales_first_7_days=0, sales_first_14_days=0, sales_last_30_days=0,
                    aggregate_measurement_value=0, revenue_last_30_days=Decimal("0.0000"),
                    lifetime_revenue=Decimal("0.0000"), flags={"is_banana", "is_archive"}, nominal="banana"),
}
PRODUCT_FIELDS = {
    "classic-tee": ("Classic Tee", "T-Shirt", "Acme", ["cotton", "category:tops", "season:summer"], True),
    "zip-hoodie": ("Zip Hoodie - Limited", "Hoodie", "Northwind", ["category:outerwear"], False),
    "old-cap": ("Old Cap", "Hat", "Acme", [], False),
    "wool-socks": ("Wool Socks", "Socks", "Acme", ["category:accessories"], True),
    "latte-mug": ('Café "Latte" Mug', "Mug", "Kaffee GmbH", ["category:kitchen", "gift"], True),
    "tote-bag": ("Tote Bag", "Bag", "Acme", [], True),
}


@pytest.fixture
def ny(tmp_path, monkeypatch):
    for var in ("PERFTIERS_HOME", "PERFTIERS_CONFIG", "PERFTIERS_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(home=tmp_path / "data", timezone="America/New_York", currency="USD")
    yield settings
    pipeline.close(settings)


@pytest.fixture
def exports(tmp_path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    write_csv(folder / "products_export_1.csv", PRODUCT_HEADER, PRODUCTS)
    write_csv(folder / "orders_export_1.csv", ORDER_HEADER, ORDERS)
    (folder / "notes.txt").write_text("not an export")
    return folder


def test_exports_through_sync_and_refresh_give_every_metric(ny, exports, caplog):
    pipeline.set_spec(ny, **SPEC)
    with caplog.at_level(logging.WARNING, logger="perftiers.sources.shopify"):
        record = pipeline.sync(ny, make_source(ny, "shopify-csv", str(exports)))
    counts = record["counts"]
    assert record["status"] == "succeeded" and record["source"] == "shopify-csv"
    assert (counts["products"], counts["order_lines"], counts["orders"]) == (6, 11, 9)
    assert counts["unmapped_order_lines"] == 2 and counts["unmapped_units"] == 2
    examples = " | ".join(counts["unmapped_examples"])
    assert "#1005 line 1" in examples and "'Gift Wrap' (SKU 'GIFT-WRAP')" in examples
    assert "#1007 line 2" in examples and "'Mystery Box' (no SKU)" in examples
    assert counts["refunds_estimated_orders"] == 2
    assert any("2 order line(s)" in r.getMessage() and "not written" in r.getMessage() for r in caplog.records)

    pipeline.refresh(ny, AS_OF)
    rows = pipeline.performance(ny)
    assert set(rows) == set(EXPECTED)
    for handle, want in EXPECTED.items():
        row = rows[handle]
        got = {k: row[k] for k in want if k not in ("flags", "nominal")}
        assert got == {k: v for k, v in want.items() if k not in ("flags", "nominal")}, handle
        assert pipeline.flags(row) == want["flags"], handle
        assert row["nominal_classification"] == want["nominal"], handle
        name, type_, vendor, tags, active = PRODUCT_FIELDS[handle]
        assert (row["product_name"], row["product_type"], row["vendor"], row["tags"], row["is_active"],
                row["launched_at"]) == (name, type_, vendor, tags, active, None), handle


def test_line_mapping_in_raw_order_lines(ny, exports):
    pipeline.sync(ny, ShopifyCsvSource.from_settings(ny, path=str(exports)))
    lines = {r["line_id"]: r for r in pipeline.table_arrow(ny, catalog.ORDER_LINES).to_pylist()}
    assert sorted(lines) == ["#0990-1", "#1001-1", "#1001-2", "#1002-1", "#1002-2", "#1003-1", "#1004-1",
                             "#1005-2", "#1006-1", "#1007-1", "#1008-1"]
    utc = timezone.utc

    def shape(r):
        return (r["order_id"], r["ordered_at"], r["artifact_id"], r["quantity"], r["unit_price"], r["discount"],
                r["refunded_quantity"], r["cancelled"], r["currency"])

    assert shape(lines["#1002-1"]) == ("#1002", datetime(2025, 3, 5, 3, 30, tzinfo=utc), "classic-tee", 3,
                                       Decimal("20.0000"), Decimal("4.0000"), 1, False, "USD")
    assert shape(lines["#1002-2"])[5:8] == (Decimal("0.0000"), 0, False)
    assert shape(lines["#1001-2"])[2] == "zip-hoodie"
    assert shape(lines["#1003-1"])[6:8] == (1, True)
    assert shape(lines["#1004-1"])[5:8] == (Decimal("0.0000"), 2, False)
    assert shape(lines["#1005-2"])[2:5] == ("classic-tee", 5, Decimal("1234.5000"))
    assert shape(lines["#1006-1"]) == ("#1006", datetime(2025, 3, 12, 18, 15, tzinfo=utc), "latte-mug", 4,
                                       Decimal("12.0000"), Decimal("2.4000"), 0, False, "EUR")
    assert shape(lines["#1007-1"])[2:7] == ("tote-bag", 2, Decimal("25.0000"), Decimal("0.0000"), 1)


def test_syncing_the_same_exports_again_changes_nothing(ny, exports):
    pipeline.sync(ny, make_source(ny, "shopify-csv", str(exports)))
    before = pipeline.snapshot_ids(ny)
    again = pipeline.sync(ny, make_source(ny, "shopify-csv", str(exports)))
    assert again["counts"]["rows_written"] == 0
    assert pipeline.snapshot_ids(ny) == before


def test_a_new_export_replaces_changed_orders(ny, exports):
    """A later export (a refund and a cancellation since) updates the lines it names."""
    pipeline.set_spec(ny, **SPEC)
    pipeline.sync(ny, make_source(ny, "shopify-csv", str(exports)))
    later = [dict(r) for r in ORDERS]
    for r in later:
        if r["Name"] == "#1006" and r.get("Created at"):
            r["Cancelled at"] = "2025-03-13 09:00:00 +0100"
        if r["Name"] == "#1001" and r.get("Created at"):
            r["Financial Status"], r["Refunded Amount"] = "partially_refunded", "$60.00"  # the hoodie
    write_csv(exports / "orders_export_1.csv", ORDER_HEADER, later)
    record = pipeline.sync(ny, make_source(ny, "shopify-csv", str(exports)))
    assert record["counts"]["order_lines_written"] == 2
    pipeline.refresh(ny, AS_OF)
    rows = pipeline.performance(ny)
    assert (rows["latte-mug"]["sales_last_30_days"], rows["latte-mug"]["lifetime_revenue"]) == (1, Decimal("36.0000"))
    assert (rows["zip-hoodie"]["aggregate_measurement_value"], rows["zip-hoodie"]["lifetime_revenue"]) == (0, 0)
    assert rows["classic-tee"]["aggregate_measurement_value"] == 9


def test_bad_rows_are_rejected_with_file_line_and_reason_and_nothing_changes(ny, exports, tmp_path):
    pipeline.sync(ny, make_source(ny, "shopify-csv", str(exports)))
    before = pipeline.snapshot_ids(ny)

    bad = tmp_path / "bad"
    bad.mkdir()
    products = PRODUCTS + [
        product("paused-thing", "Paused Thing", "Acme", "Misc", "", "TRUE", "paused", "P-1"),  # line 15
        variant("ghost", "S", "G-1"),  # line 16: a variant of a product with no product row
    ]
    write_csv(bad / "products_export_1.csv", PRODUCT_HEADER, products)
    orders = ORDERS[:3] + [
        *order("#2001", "yesterday", [(1, "Classic Tee - Black / S", "20.00", "TEE-BLK-S", "")]),
        *order("#2002", "2025-03-01 10:00:00 -0500", [(1, "Classic Tee - Black / S", "abc", "TEE-BLK-S", ""),
                                                      ("two", "Wool Socks", "10.00", "SOCK-1", "")]),
        *order("#2003", "2025-03-01 10:00:00 -0500", [(1, "Wool Socks", "10.00", "SOCK-1", "")], currency="EURO"),
        *order("#0990", "2025-01-15 12:00:00 -0500", [(1, "Wool Socks", "10.00", "SOCK-1", "")]),
    ]
    write_csv(bad / "orders_export_1.csv", ORDER_HEADER, orders)
    with pytest.raises(SourceRejected) as caught:
        pipeline.sync(ny, make_source(ny, "shopify-csv", str(bad)))
    found = {(p.file, p.line): p.reason for p in caught.value.problems}
    # products: the first product's Body (HTML) spans two physical lines, so rows start one line later
    assert "Status 'paused' is not one of active, draft, archived, unlisted" in found[("products_export_1.csv", 15)]
    assert "'ghost' has no row with a Title" in found[("products_export_1.csv", 16)]
    assert "Created at: 'yesterday' is not a date and time" in found[("orders_export_1.csv", 5)]
    assert "Lineitem price: 'abc' is not an amount" in found[("orders_export_1.csv", 6)]
    assert "Lineitem quantity: 'two' is not a whole number" in found[("orders_export_1.csv", 7)]
    assert "Currency: 'EURO' is not a 3-letter currency code" in found[("orders_export_1.csv", 8)]
    assert "rows of order #0990 are not together (also at orders_export_1.csv:2)" in found[("orders_export_1.csv", 9)]
    assert caught.value.total == 7
    assert "nothing was written" in str(caught.value)
    assert pipeline.snapshot_ids(ny) == before
    assert pipeline.runs(ny)[0]["status"] == "failed"


def test_missing_column_and_missing_files_are_explained(ny, tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    with pytest.raises(ConfigurationError, match="no Shopify products or orders export"):
        make_source(ny, "shopify-csv", str(folder)).extract()
    write_csv(folder / "products_export_1.csv", PRODUCT_HEADER, PRODUCTS[:1])
    write_csv(folder / "orders_export_1.csv", [h for h in ORDER_HEADER if h != "Lineitem price"], [])
    with pytest.raises(SourceRejected) as caught:
        make_source(ny, "shopify-csv", str(folder)).extract()
    assert [(p.file, p.line) for p in caught.value.problems] == [("orders_export_1.csv", 1)]
    assert "missing column(s): Lineitem price" in caught.value.problems[0].reason
    with pytest.raises(ConfigurationError, match="--path DIR"):
        make_source(ny, "shopify-csv")
    with pytest.raises(ConfigurationError, match="is not a folder"):
        make_source(ny, "shopify-csv", str(tmp_path / "nope")).extract()


def test_published_decides_when_status_is_empty(ny, tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    write_csv(folder / "products_export.csv", PRODUCT_HEADER, [
        product("a", "A", "V", "T", "", "TRUE", "", "A-1"),
        product("b", "B", "V", "T", "", "FALSE", "", "B-1"),
        product("c", "C", "V", "T", "", "", "", "C-1"),
    ], bom=False)
    write_csv(folder / "orders.csv", ORDER_HEADER, [])
    extract = make_source(ny, "shopify-csv", str(folder)).extract()
    assert dict(zip(extract.products["artifact_id"].to_pylist(), extract.products["is_active"].to_pylist())) == {
        "a": True, "b": False, "c": True}
    assert list(extract.order_lines()) == [] and extract.counts["unmapped_order_lines"] == 0


@pytest.mark.parametrize("text, value", [
    ("12.00", "12.00"), ("$1,234.50", "1234.50"), ("€12,00", "12.00"), ("1.234,50 €", "1234.50"),
    ("CHF 1'234.50", "1234.50"), ("£0.99", "0.99"), ("¥1,234", "1234"), ("1 234,5", "1234.5"),
    ("-$5.00", "-5.00"), ("($5.00)", "-5.00"), ("USD 7", "7"), ("1.234.567,89", "1234567.89"),
    ("12,5", "12.5"), ("0,075", "75"), ("+3.10", "3.10"), ("1,234,567", "1234567"),
])
def test_amounts_with_currency_formatting(text, value):
    assert parse_amount(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "abc", "$", "1.2.3,4,5", "--5"])
def test_amounts_that_are_not_amounts(text):
    with pytest.raises(ValueError):
        parse_amount(text)


@pytest.mark.parametrize("text, utc", [
    ("2025-03-04 10:22:11 -0500", datetime(2025, 3, 4, 15, 22, 11)),
    ("2025-03-04 10:22 +0530", datetime(2025, 3, 4, 4, 52)),
    ("2025-03-04T10:22:11-05:00", datetime(2025, 3, 4, 15, 22, 11)),
    ("2025-03-04T10:22:11Z", datetime(2025, 3, 4, 10, 22, 11)),
    ("2025-07-04 10:22:11", datetime(2025, 7, 4, 14, 22, 11)),  # no offset: store timezone (EDT)
])
def test_timestamps_with_offsets(text, utc):
    assert parse_timestamp(text, ZoneInfo("America/New_York")) == utc.replace(tzinfo=timezone.utc)


def _lines(*spec):
    return [_Line(i, qty, f"l{i}", "", Decimal(price), Decimal(discount)) for i, (qty, price, discount) in enumerate(spec)]


@pytest.mark.parametrize("status, amount, lines, want", [
    ("paid", "0", [(2, "10", "0")], [0]),
    ("refunded", "0", [(2, "10", "0"), (1, "5", "0")], [2, 1]),  # status wins, whatever the amount
    ("partially_refunded", "25.00", [(1, "10", "0"), (1, "25", "0")], [0, 1]),  # exact match on one line
    ("partially_refunded", "27.00", [(1, "10", "0"), (1, "25", "0")], [0, 1]),  # 25 + tax: priciest first
    ("partially_refunded", "10.80", [(1, "10", "0"), (1, "25", "0")], [1, 0]),  # 10 + tax
    ("partially_refunded", "30.00", [(3, "10", "0"), (1, "25", "0")], [3, 0]),  # 3 x 10 exactly
    ("partially_refunded", "5.00", [(1, "10", "0")], [0]),  # shipping only: no units
    ("partially_refunded", "36.00", [(3, "20", "6")], [2]),  # net unit price 18
    ("partially_refunded", "999", [(2, "10", "0")], [2]),  # never more than the quantity
])
def test_refunded_units_rule(status, amount, lines, want):
    assert refunded_units(status, Decimal(amount), _lines(*lines))[0] == want


# -- issue 12: real exports, exact numbers -----------------------------------------------------

def csv_line(header: list[str], row: dict[str, str]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow([row.get(h, "") for h in header])
    return buf.getvalue()


def test_an_orders_row_cut_short_refuses_the_file_and_writes_nothing(ny, exports):
    """Issue 12, defect 1: a cancelled order's row cut after `Lineitem sku` lost `Cancelled at` and
    `Refunded Amount`; read with the missing fields as empty it was a sale (+1 unit, +60.00)."""
    pipeline.sync(ny, make_source(ny, "shopify-csv", str(exports)))
    before = pipeline.snapshot_ids(ny)
    cancelled = order("#1100", "2025-03-15 10:00:00 -0400", [(1, "Zip Hoodie - Limited - S", "60.00", "HOOD-S", "0.00")],
                      status="refunded", cancelled="2025-03-15 11:00:00 -0400", refunded="60.00")[0]
    text = (exports / "orders_export_1.csv").read_text(encoding="utf-8-sig")
    cut = csv_line(ORDER_HEADER, cancelled).split(",")[:ORDER_HEADER.index("Lineitem sku") + 1]
    (exports / "orders_export_1.csv").write_text(text + ",".join(cut) + "\n", encoding="utf-8-sig")
    line = text.count("\n") + 1
    with pytest.raises(SourceRejected) as caught:
        pipeline.sync(ny, make_source(ny, "shopify-csv", str(exports)))
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == ("orders_export_1.csv", line)
    assert f"{len(cut)} fields where the header has {len(ORDER_HEADER)}" in problem.reason
    assert pipeline.snapshot_ids(ny) == before
    assert pipeline.runs(ny)[0]["status"] == "failed"


@pytest.mark.parametrize("kind", ["products", "orders"])
@pytest.mark.parametrize("change", ["short", "long"])
def test_a_row_with_fewer_or_more_fields_than_the_header_is_a_bad_row(ny, exports, kind, change):
    path = exports / f"{kind}_export_1.csv"
    header = PRODUCT_HEADER if kind == "products" else ORDER_HEADER
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    row = lines[-1].rstrip("\r\n")  # a variant row / the last order's only row (no quoted newlines)
    lines[-1] = (row.rsplit(",", 3)[0] if change == "short" else row + ",stray") + "\r\n"
    path.write_text("".join(lines), encoding="utf-8-sig")
    fields = len(header) - 3 if change == "short" else len(header) + 1
    with pytest.raises(SourceRejected) as caught:
        make_source(ny, "shopify-csv", str(exports)).extract()
    assert [(p.file, p.line) for p in caught.value.problems] == [(path.name, len(lines))]
    assert f"{fields} fields where the header has {len(header)}" in caught.value.problems[0].reason


def real_order(name, created, items, *, subtotal=None, discount_code="", discount_amount="0.00", shipping="0.00",
               status="paid", cancelled="", refunded="0.00", currency="USD"):
    """Rows of one order laid out as the Shopify admin writes them (checked against public real
    exports): order fields on the first row; Name, Email, Created at, the Lineitem columns, Vendor
    and `Lineitem discount` (0.00 unless the line itself was discounted) on every row."""
    gross = sum(Decimal(price) * qty for qty, _, price, _, _ in items)
    rows = []
    for i, (qty, line_name, price, sku, line_discount) in enumerate(items):
        row = {"Name": name, "Email": "ann@example.com", "Created at": created, "Lineitem quantity": str(qty),
               "Lineitem name": line_name, "Lineitem price": price, "Lineitem sku": sku,
               "Lineitem requires shipping": "true", "Lineitem taxable": "true",
               "Lineitem fulfillment status": "fulfilled", "Vendor": "Acme", "Lineitem discount": line_discount}
        if i == 0:
            sub = subtotal if subtotal is not None else f"{gross - Decimal(discount_amount):.2f}"
            row.update({"Financial Status": status, "Paid at": created, "Fulfillment Status": "fulfilled",
                        "Accepts Marketing": "no", "Currency": currency, "Subtotal": sub, "Shipping": shipping,
                        "Taxes": "0.00", "Total": f"{Decimal(sub or gross) + Decimal(shipping):.2f}",
                        "Discount Code": discount_code, "Discount Amount": discount_amount,
                        "Shipping Method": "Standard", "Cancelled at": cancelled, "Payment Method": "Shopify Payments",
                        "Refunded Amount": refunded, "Outstanding Balance": "0.00", "Id": str(6_900_000_000 + i),
                        "Risk Level": "Low", "Source": "web", "Tax 1 Name": "State Tax 0%", "Tax 1 Value": "0.00"})
        rows.append(row)
    return rows


def discounts(ny, folder, orders) -> dict[str, Decimal]:
    write_csv(folder / "orders_export_1.csv", ORDER_HEADER, orders)
    extract = make_source(ny, "shopify-csv", str(folder)).extract()
    return {r["line_id"]: r["discount"] for b in extract.order_lines() for r in b.to_pylist()}


def test_an_order_discount_code_is_shared_by_the_lines_in_proportion_to_their_subtotals(ny, exports):
    """Issue 12, defect 2. As in a real export (#16099 of a public orders_export_1.csv): a code of 176.68
    on six lines summing to 1568.30, every `Lineitem discount` 0.00, Subtotal 1391.62."""
    orders = real_order("#2001", "2025-03-02 11:30:13 -0500", [
        (1, "Classic Tee - Black / S", "20.00", "TEE-BLK-S", "0.00"),
        (2, "Zip Hoodie - Limited - M", "60.00", "", "0.00"),
        (3, 'Café "Latte" Mug', "12.00", "MUG-1", "0.00"),
    ], discount_code="WELCOME10", discount_amount="17.69")
    got = discounts(ny, exports, orders)
    # subtotals 20, 120, 36 (176): 17.69 x 20/176 = 2.0102 -> 2.01; x 36/176 = 3.6185 -> 3.62; the hoodie the rest
    assert got == {"#2001-1": Decimal("2.0100"), "#2001-2": Decimal("12.0600"), "#2001-3": Decimal("3.6200")}
    assert sum(got.values()) == Decimal("17.69")


def test_a_line_discount_is_not_counted_twice_and_shipping_discounts_stay_off_the_lines(ny, exports):
    orders = [
        # Discount Amount is the order's whole discount: 6.00 of it is the tee's own line discount
        *real_order("#2002", "2025-03-02 12:00:00 -0500", [
            (3, "Classic Tee - Black / M", "20.00", "TEE-BLK-M", "6.00"),
            (1, 'Café "Latte" Mug', "12.00", "MUG-1", "0.00"),
        ], discount_code="TEE3", discount_amount="6.00"),
        # both: 6.00 on the tee, 6.60 more for the order: shared by 54 (60 - 6) and 12
        *real_order("#2003", "2025-03-02 13:00:00 -0500", [
            (3, "Classic Tee - Black / M", "20.00", "TEE-BLK-M", "6.00"),
            (1, 'Café "Latte" Mug', "12.00", "MUG-1", "0.00"),
        ], discount_code="TEE3, TENOFF", discount_amount="12.60"),
        # a free-shipping code: 5.00 in Discount Amount, nothing off Subtotal
        *real_order("#2004", "2025-03-02 14:00:00 -0500", [(1, 'Café "Latte" Mug', "12.00", "MUG-1", "0.00")],
                    discount_code="FREESHIP", discount_amount="5.00", subtotal="12.00", shipping="0.00"),
        # an export without a Subtotal value: Discount Amount alone
        *real_order("#2005", "2025-03-02 15:00:00 -0500", [(2, 'Café "Latte" Mug', "12.00", "MUG-1", "0.00")],
                    discount_code="TWO", discount_amount="2.00", subtotal=""),
    ]
    got = discounts(ny, exports, orders)
    assert (got["#2002-1"], got["#2002-2"]) == (Decimal("6.0000"), Decimal("0.0000"))
    assert (got["#2003-1"], got["#2003-2"]) == (Decimal("11.4000"), Decimal("1.2000"))  # 6 + 5.40; 6.60 x 12/66
    assert got["#2004-1"] == Decimal("0.0000")
    assert got["#2005-1"] == Decimal("2.0000")


def test_a_refund_of_a_discounted_line_is_read_at_its_net_price(ny, exports):
    """Shopify refunds what was paid: 60 - 10% = 54.00 is one hoodie, not 0 units and 54 of change."""
    orders = real_order("#2006", "2025-03-02 12:00:00 -0500", [(2, "Zip Hoodie - Limited - M", "60.00", "", "0.00")],
                        discount_code="TENOFF", discount_amount="12.00", status="partially_refunded",
                        refunded="54.00")
    write_csv(exports / "orders_export_1.csv", ORDER_HEADER, orders)
    extract = make_source(ny, "shopify-csv", str(exports)).extract()
    [line] = [r for b in extract.order_lines() for r in b.to_pylist()]
    assert (line["refunded_quantity"], line["discount"]) == (1, Decimal("6.0000"))


CURRENT_PRODUCT_HEADER = [
    "Title", "URL handle", "Description", "Vendor", "Product category", "Type", "Tags", "Published on online store",
    "Status", "SKU", "Barcode", "Option1 name", "Option1 value", "Option1 Linked To", "Option2 name",
    "Option2 value", "Option2 Linked To", "Option3 name", "Option3 value", "Option3 Linked To", "Price",
    "Compare-at price", "Cost per item", "Charge tax", "Tax code", "Unit price total measure",
    "Unit price total measure unit", "Unit price base measure", "Unit price base measure unit", "Inventory tracker",
    "Inventory quantity", "Continue selling when out of stock", "Weight value (grams)", "Weight unit for display",
    "Requires shipping", "Fulfillment service", "Product image URL", "Image position", "Image alt text",
    "Variant image URL", "Gift card", "SEO title", "SEO description",
]
"""The columns of Shopify's current product CSV template (help centre, "Using CSV files")."""


def test_the_current_product_csv_template_is_read_like_the_export(ny, exports):
    """Issue 12, defect 4: `URL handle`, `SKU`, `Published on online store` are the current names."""
    renamed = {"Handle": "URL handle", "Variant SKU": "SKU", "Published": "Published on online store",
               "Body (HTML)": "Description", "Option1 Name": "Option1 name", "Option1 Value": "Option1 value",
               "Variant Price": "Price", "Image Src": "Product image URL", "Product Category": "Product category"}
    current = [{renamed.get(k, k): v for k, v in r.items() if renamed.get(k, k) in CURRENT_PRODUCT_HEADER}
               for r in PRODUCTS]
    old = make_source(ny, "shopify-csv", str(exports)).extract()
    write_csv(exports / "products_export_1.csv", CURRENT_PRODUCT_HEADER, current)
    new = make_source(ny, "shopify-csv", str(exports)).extract()
    assert new.products.to_pylist() == old.products.to_pylist()
    assert [b.to_pylist() for b in new.order_lines()] == [b.to_pylist() for b in old.order_lines()]


@pytest.mark.parametrize("missing, named", [
    (("Handle",), "Handle (URL handle in the current template)"),
    (("Handle", "Title"), "Handle (URL handle in the current template), Title"),
])
def test_a_products_csv_without_a_required_column_names_the_file_and_the_column(ny, exports, missing, named):
    """Issue 12, defect 5: it was "no Shopify products export in DIR"."""
    write_csv(exports / "products_export_1.csv", [h for h in PRODUCT_HEADER if h not in missing],
              [{k: v for k, v in r.items() if k not in missing} for r in PRODUCTS])
    with pytest.raises(SourceRejected) as caught:
        make_source(ny, "shopify-csv", str(exports)).extract()
    assert [(p.file, p.line) for p in caught.value.problems] == [("products_export_1.csv", 1)]
    assert f"missing column(s): {named}" in caught.value.problems[0].reason
    assert "products export" in caught.value.problems[0].reason


def test_an_orders_csv_without_a_required_column_names_the_file_and_the_column(ny, exports):
    header = [h for h in ORDER_HEADER if h not in ("Lineitem quantity", "Created at")]
    write_csv(exports / "orders_export_1.csv", header, [{k: v for k, v in r.items() if k in header} for r in ORDERS])
    with pytest.raises(SourceRejected) as caught:
        make_source(ny, "shopify-csv", str(exports)).extract()
    assert [(p.file, p.line) for p in caught.value.problems] == [("orders_export_1.csv", 1)]
    assert "missing column(s): Created at, Lineitem quantity" in caught.value.problems[0].reason


def test_other_csv_files_are_still_ignored(ny, exports):
    write_csv(exports / "customers_export.csv", ["First Name", "Last Name", "Email", "Company", "Tags", "Note"],
              [{"First Name": "Ann", "Tags": "vip"}])
    write_csv(exports / "notes.csv", ["Title", "Text"], [{"Title": "x", "Text": "y"}])
    assert make_source(ny, "shopify-csv", str(exports)).extract().products.num_rows == 6


@pytest.mark.parametrize("column, value, reason", [
    ("Lineitem price", "123456789012345.00", "Lineitem price: '123456789012345.00' is too big"),
    ("Discount Amount", "99999999999999999", "Discount amount: '99999999999999999' is too big"),
])
def test_amounts_beyond_the_stored_precision_are_refused(ny, exports, column, value, reason):
    orders = real_order("#2007", "2025-03-02 12:00:00 -0500", [(1, 'Café "Latte" Mug', "12.00", "MUG-1", "0.00")],
                        subtotal="12.00")
    orders[0][column] = value
    write_csv(exports / "orders_export_1.csv", ORDER_HEADER, orders)
    with pytest.raises(SourceRejected) as caught:
        make_source(ny, "shopify-csv", str(exports)).extract()
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == ("orders_export_1.csv", 2) and reason in problem.reason
