"""Commerce analytics over raw order lines (values from store.py's lines, worked out by hand)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pyarrow as pa

from perftiers import rules
from perftiers.lakehouse import schemas
from perftiers.query import snapshot
from tests.api import store as known
from tests.api.conftest import assert_error

MARCH = {"from": "2025-03-02", "to": "2025-03-31"}


def test_overview_and_previous_period(api):
    body = api.get("/analytics/commerce/overview", params=MARCH).json()
    # L1 240 + L2 250 + L3 150 + L4 28 * 50 + L9 29.97; L5 is cancelled; o2 has two lines
    assert body["revenue"] == 2069.97 and body["order_count"] == 4 and body["units"] == 66
    assert body["aov"] == 517.49 and body["currency"] == "USD"
    assert (body["from"], body["to"]) == ("2025-03-02", "2025-03-31")
    prev = body["previous"]
    assert (prev["from"], prev["to"]) == ("2025-01-31", "2025-03-01")
    assert (prev["revenue"], prev["order_count"], prev["units"], prev["aov"]) == (240.0, 1, 8, 240.0)


def test_lines_after_the_refresh_date_count(api):
    """Commerce reads raw lines, not daily_sales (which stops at the refresh's as_of)."""
    body = api.get("/analytics/commerce/overview", params={"from": "2025-04-01", "to": "2025-04-30"}).json()
    assert (body["revenue"], body["order_count"], body["units"]) == (80.0, 1, 4)


def test_no_orders_means_zero_aov(api):
    body = api.get("/analytics/commerce/overview", params={"from": "2020-01-01", "to": "2020-01-31"}).json()
    assert (body["revenue"], body["order_count"], body["aov"], body["units"]) == (0.0, 0, 0.0, 0)


def test_default_period_is_the_30_days_ending_today(api):
    body = api.get("/analytics/commerce/overview").json()
    today = date.fromisoformat(body["to"])
    assert date.fromisoformat(body["from"]) == today - timedelta(days=29)
    assert abs((today - date.today()).days) <= 1


def test_top_products(api):
    by_revenue = api.get("/analytics/commerce/products", params=MARCH).json()["items"]
    assert [(i["rank"], i["artifact_id"], i["revenue"], i["units"], i["order_count"]) for i in by_revenue] == [
        (1, "SKU-002", 1400.0, 28, 1), (2, "SKU-001", 490.0, 25, 2), (3, "SKU-008", 150.0, 10, 1),
        (4, "SKU-007", 29.97, 3, 1)]
    assert by_revenue[0]["product_name"] == "Beta Hoodie"
    by_units = api.get("/analytics/commerce/products", params={**MARCH, "by": "units", "limit": 2}).json()
    assert [i["artifact_id"] for i in by_units["items"]] == ["SKU-002", "SKU-001"] and by_units["by"] == "units"


def test_daily(api):
    items = api.get("/analytics/commerce/daily", params={"from": "2025-03-26", "to": "2025-03-29"}).json()["items"]
    assert items == [
        {"day": "2025-03-26", "revenue": 1400.0, "units": 28, "order_count": 1},
        {"day": "2025-03-27", "revenue": 0.0, "units": 0, "order_count": 0},
        {"day": "2025-03-29", "revenue": 400.0, "units": 23, "order_count": 1},
    ]


def test_bad_periods(api):
    assert_error(api.get("/analytics/commerce/overview", params={"from": "2025-04-01", "to": "2025-03-01"}), 400)
    assert_error(api.get("/analytics/commerce/overview", params={"from": "2025-02-30"}), 400, "bad_request")
    assert_error(api.get("/analytics/commerce/overview", params={"from": "0001-01-01", "to": "9999-12-31"}), 400)
    assert api.get("/analytics/commerce/overview", params={"from": "0001-01-01", "to": "0001-01-05"}).status_code == 200
    assert_error(api.get("/analytics/commerce/overview", params={"to": "0001-01-05"}), 400)
    assert_error(api.get("/analytics/commerce/products", params={"limit": 101}), 400)
    assert_error(api.get("/analytics/commerce/products", params={"by": "profit"}), 400)


def test_store_timezone_moves_late_orders_to_the_next_day(tmp_path):
    """The serving tables use the same day boundary as rules.daily_sales_sql."""
    from tests.api.conftest import make_settings

    settings = make_settings(tmp_path / "data", timezone="Asia/Tokyo")
    lines = pa.Table.from_pylist(known.LINES, schema=schemas.ORDER_LINES)
    con = duckdb.connect()
    cur = con.cursor()
    con.register("lines_arrow", lines)
    expected = con.execute(f"SELECT artifact_id, day, net_units FROM ({rules.daily_sales_sql('lines_arrow')}) "
                           "ORDER BY 1, 2", {"tz": "Asia/Tokyo", "as_of": date(2030, 1, 1)}).fetchall()

    # L9 (2025-03-02 23:30 UTC) is 2025-03-03 in Tokyo
    assert ("SKU-007", date(2025, 3, 3), 3) in expected
    names = {"sales_days": "sd", "order_days": "od", "products": "p"}
    original = snapshot._scan
    try:
        snapshot._scan = lambda s, ident, sid, fields=None: (lines.select(list(fields)) if ident[1] == "order_lines"
                                                             else pa.table({"artifact_id": ["SKU-007"],
                                                                            "product_name": ["x"]}))
        snapshot.load_raw(cur, settings, names, snapshot.SourceIds(None, 1, 1))
    finally:
        snapshot._scan = original
    served = cur.execute("SELECT artifact_id, day, net_units FROM sd ORDER BY 1, 2").fetchall()
    assert served == expected
    assert cur.execute("SELECT day FROM od WHERE order_id = 'o8'").fetchall() == [(date(2025, 3, 3),)]
