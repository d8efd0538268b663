"""The shopify source against a local stand-in of the Admin API (tests/fake_shopify.py)."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import SecretStr

from perftiers.errors import ConfigurationError
from perftiers.lakehouse import catalog
from perftiers.metadata import artifacts
from perftiers.settings import load_settings
from perftiers.sources import make_source
from perftiers.sources.shopify import ShopifySource
from perftiers.sources.shopify.client import ShopifyAccessDenied, ShopifyAuthError, ShopifyUnavailable, shop_url
from perftiers.sources.shopify.source import CURSOR_KIND, saved_position
from tests import pipeline
from tests.fake_shopify import FakeShopify, gql_line, gql_order, gql_product

UTC = timezone.utc
TOKEN = "shpat_good"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def store() -> FakeShopify:
    """Four weeks of a small shop. Line ids L1..L7; L5 has no product (a custom item)."""
    return FakeShopify(
        products=[
            gql_product("linen-shirt", "Linen Shirt", updated="2025-01-20T00:00:00Z", published="2025-02-01T09:00:00Z",
                        tags=["linen", "category:tops"], pid=1),
            gql_product("wool-scarf", "Wool Scarf", status="DRAFT", updated="2025-01-25T00:00:00Z",
                        product_type="Scarf", vendor="Northwind", pid=2),
            gql_product("canvas-tote", "Canvas Tote", status="ARCHIVED", updated="2025-02-02T00:00:00Z",
                        published="2025-01-05T00:00:00Z", product_type="Bag", pid=3),
            gql_product("silk-tie", "Silk Tie", status="UNLISTED", updated="2025-01-10T00:00:00Z",
                        published="2025-01-10T00:00:00Z", product_type="Tie", pid=4),
            gql_product("paper-hat", "Paper Hat", status="ARCHIVED", updated="2025-01-03T00:00:00Z",
                        product_type="Hat", pid=5),
        ],
        orders=[
            gql_order(1001, "#1001", "2025-02-01T12:00:00Z", [
                gql_line(1, "linen-shirt", 3, "50.00", discounts=("10.00",))], updated="2025-02-01T12:05:00Z"),
            gql_order(1002, "#1002", "2025-02-03T18:00:00Z", [  # one shirt refunded on Feb 6
                gql_line(2, "linen-shirt", 2, "50.00", current=1), gql_line(3, "wool-scarf", 1, "30.00")],
                updated="2025-02-06T10:00:00Z", status="PARTIALLY_REFUNDED"),
            gql_order(1003, "#1003", "2025-02-05T08:00:00Z", [gql_line(4, "silk-tie", 2, "40.00", current=0)],
                      cancelled="2025-02-05T09:00:00Z", status="REFUNDED"),
            gql_order(1004, "#1004", "2025-02-10T20:00:00Z", [
                gql_line(5, None, 1, "5.00", sku="ENGRAVE", name="Engraving"),
                gql_line(6, "silk-tie", 1, "40.00", discounts=("1.50", "2.50"))]),
            gql_order(1005, "#1005", "2025-02-14T12:00:00Z", [gql_line(7, "canvas-tote", 1, "20.00")]),
        ],
    )


def week_later(shop: FakeShopify) -> None:
    """What changes in the shop between the first and the second sync."""
    shop.orders[0]["lineItems"][0]["currentQuantity"] = 2  # a shirt of #1001 refunded
    shop.orders[0]["updatedAt"] = "2025-02-20T10:00:00Z"
    shop.orders.append(gql_order(1006, "#1006", "2025-02-18T15:00:00Z", [
        gql_line(8, "wool-scarf", 2, "30.00"), gql_line(9, "linen-shirt", 1, "50.00")]))
    scarf = shop.products[1]
    scarf.update(status="ACTIVE", publishedAt="2025-02-18T00:00:00Z", updatedAt="2025-02-18T00:00:00Z")


FIRST_SYNC = at("2025-02-15T00:00:00Z")
SECOND_SYNC = at("2025-02-22T00:00:00Z")
SPEC = dict(top_riser_7_day_threshold=3, top_riser_14_day_threshold=5, winner_30_day_threshold=3, banana_count=1)

# By hand, D = 2025-02-22 (UTC store). Net units and revenue per line after both syncs:
# L1 shirt Feb 1 3-1 refunded, discount 10 -> 6.6667 kept: 2 units 93.3333; L2 shirt Feb 3 1 unit 50;
# L3 scarf Feb 3 1 unit 30; L4 tie cancelled 0; L6 tie Feb 10 1 unit 40-4; L7 tote Feb 14 1 unit 20;
# L8 scarf Feb 18 2 units 60; L9 shirt Feb 18 1 unit 50. Launch = publishedAt, else the first sale.
EXPECTED = {
    "linen-shirt": (date(2025, 2, 1), 3, 3, 4, 4, Decimal("193.3333"), Decimal("193.3333"),
                    {"is_top_riser", "is_winner"}, "top_riser", True),
    "wool-scarf": (date(2025, 2, 18), 2, 2, 3, 3, Decimal("90.0000"), Decimal("90.0000"), {"is_winner"}, "winner",
                   True),
    "silk-tie": (date(2025, 1, 10), 0, 0, 1, 1, Decimal("36.0000"), Decimal("36.0000"), set(), "none", True),
    "canvas-tote": (date(2025, 1, 5), 0, 0, 1, 1, Decimal("20.0000"), Decimal("20.0000"), set(), "none", False),
    "paper-hat": (None, 0, 0, 0, 0, Decimal("0.0000"), Decimal("0.0000"), {"is_banana", "is_archive"}, "banana",
                  False),
}
METRICS = ("launch_date", "sales_first_7_days", "sales_first_14_days", "sales_last_30_days",
           "aggregate_measurement_value", "revenue_last_30_days", "lifetime_revenue")


@pytest.fixture
def shop():
    with store() as fake:
        yield fake


def make_settings(tmp_path, monkeypatch, shop: FakeShopify, **extra):
    for var in ("PERFTIERS_HOME", "PERFTIERS_CONFIG", "PERFTIERS_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    values = dict(home=tmp_path / "data", shopify_shop=shop.url, shopify_access_token=TOKEN, shopify_lookback_hours=24)
    return load_settings(**{**values, **extra})


@pytest.fixture
def settings(tmp_path, monkeypatch, shop):
    s = make_settings(tmp_path, monkeypatch, shop)
    yield s
    pipeline.close(s)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 3))


def source(settings, now: datetime, sleeps: Sleeps | None = None, **options) -> ShopifySource:
    return ShopifySource(settings, now=lambda: now, window=timedelta(days=7), sleep=Sleeps() if sleeps is None else sleeps,
                         poll_interval=0.01, **options)


def raw_lines(settings) -> dict[str, dict]:
    return {r["line_id"]: r for r in pipeline.table_arrow(settings, catalog.ORDER_LINES).to_pylist()}


def assert_final_metrics(settings) -> None:
    pipeline.set_spec(settings, **SPEC)
    pipeline.refresh(settings, date(2025, 2, 22))
    rows = pipeline.performance(settings)
    assert set(rows) == set(EXPECTED)
    for handle, want in EXPECTED.items():
        row = rows[handle]
        assert tuple(row[m] for m in METRICS) == want[:7], handle
        assert (pipeline.flags(row), row["nominal_classification"], row["is_active"]) == want[7:], handle


def test_incremental_syncs_interrupted_mid_window_resume_without_losing_or_doubling_lines(settings, shop):
    first = pipeline.sync(settings, source(settings, FIRST_SYNC))
    c = first["counts"]
    assert (c["products"], c["order_lines"], c["orders"]) == (5, 6, 5)
    assert c["shopify_order_windows"] == 7 and c["shopify_bulk_operations"] == 8 and c["shopify_paged_windows"] == 0
    assert (c["unmapped_order_lines"], c["unmapped_units"]) == (1, 1)
    assert "'Engraving' (SKU 'ENGRAVE') has no product" in c["unmapped_examples"][0]
    assert saved_position(settings, shop.url) == FIRST_SYNC
    downloads = [r for r in shop.requests if r["method"] == "GET"]
    assert downloads and all("X-Shopify-Access-Token" not in r["headers"] for r in downloads)

    week_later(shop)
    after_first = pipeline.snapshot_ids(settings)
    # The shop fails every request for the second window [Feb 21, Feb 22): the run dies mid-way.
    shop.fail = lambda request: 503 if "2025-02-21T00:00:00Z'" in json.dumps(request.get("variables")) else None
    sleeps = Sleeps()
    with pytest.raises(ShopifyUnavailable, match="next sync starts again from the saved position"):
        pipeline.sync(settings, source(settings, SECOND_SYNC, sleeps))
    assert sleeps[-5:] == [1.0, 2.0, 4.0, 8.0, 16.0]  # backoff between the attempts
    assert pipeline.snapshot_ids(settings) == after_first  # nothing of the first window was written
    assert saved_position(settings, shop.url) == FIRST_SYNC  # and the position did not move
    assert pipeline.runs(settings)[0]["status"] == "failed"

    shop.fail = None
    second = pipeline.sync(settings, source(settings, SECOND_SYNC))
    c = second["counts"]
    assert c["shopify_since"] == "2025-02-14T00:00:00Z" and c["shopify_order_windows"] == 2
    assert (c["products"], c["order_lines"], c["orders"]) == (1, 4, 3)  # scarf; #1001, #1005 (lookback), #1006
    assert c["order_lines_written"] == 3  # #1005 was read again but had not changed
    assert saved_position(settings, shop.url) == SECOND_SYNC

    lines = raw_lines(settings)
    assert sorted(int(k.rsplit("/", 1)[1]) for k in lines) == [1, 2, 3, 4, 6, 7, 8, 9]
    shirt = lines["gid://shopify/LineItem/1"]
    assert (shirt["order_id"], shirt["quantity"], shirt["refunded_quantity"], shirt["discount"]) == \
        ("#1001", 3, 1, Decimal("6.6667"))
    tie = lines["gid://shopify/LineItem/4"]
    assert (tie["cancelled"], tie["refunded_quantity"], tie["ordered_at"]) == (True, 2, at("2025-02-05T08:00:00Z"))
    assert lines["gid://shopify/LineItem/6"]["discount"] == Decimal("4.0000")
    assert_final_metrics(settings)


def test_crash_after_commit_before_the_position_is_saved_reads_again_without_doubling(settings, shop, monkeypatch):
    real_append = artifacts.append

    def crash(engine, kind, *args, **kwargs):
        if kind == CURSOR_KIND:
            raise KeyboardInterrupt("killed between the commit and saving the position")
        return real_append(engine, kind, *args, **kwargs)

    monkeypatch.setattr(artifacts, "append", crash)
    with pytest.raises(KeyboardInterrupt):
        pipeline.sync(settings, source(settings, FIRST_SYNC))
    assert len(raw_lines(settings)) == 6 and saved_position(settings, shop.url) is None
    monkeypatch.setattr(artifacts, "append", real_append)

    again = pipeline.sync(settings, source(settings, FIRST_SYNC))  # reads everything again
    assert again["counts"]["order_lines"] == 6 and again["counts"]["rows_written"] == 0
    assert len(raw_lines(settings)) == 6
    week_later(shop)
    pipeline.sync(settings, source(settings, SECOND_SYNC))
    assert_final_metrics(settings)


def extract_rows(settings, **options) -> tuple[list[dict], list[dict], dict]:
    extract = source(settings, FIRST_SYNC, **options).extract()
    lines = [r for b in extract.order_lines() for r in b.to_pylist()]
    products = extract.products.to_pylist()
    return (sorted(products, key=lambda r: r["artifact_id"]), sorted(lines, key=lambda r: r["line_id"]),
            extract.counts)


def test_paginated_fallback_with_throttling_gives_the_same_rows_as_bulk(settings, shop):
    bulk_products, bulk_lines, bulk_counts = extract_rows(settings)
    assert len(bulk_lines) == 6 and bulk_counts["shopify_bulk_operations"] == 8

    shop.bulk_user_error = "A bulk query operation for this app and shop is already in progress: " \
                           "gid://shopify/BulkOperation/1."
    shop.throttle_next = 2  # THROTTLED with 50 of 252 points available: wait (252 - 50) / 100 s
    shop.low_bucket = True  # then every answer leaves 20 points for a 50-point query: wait 0.3 s
    sleeps = Sleeps()
    products, lines, counts = extract_rows(settings, sleeps=sleeps, orders_page=2, lines_page=1, products_page=2)
    assert (products, lines) == (bulk_products, bulk_lines)
    assert counts["shopify_paged_windows"] == 8 and counts["shopify_bulk_operations"] == 0
    assert sleeps[:2] == [2.02, 2.02] and set(sleeps[2:]) == {0.3}
    assert counts["shopify_throttle_wait_seconds"] == pytest.approx(sum(sleeps), abs=0.1)
    queries = [r["query"] for r in shop.graphql_requests()]
    assert any("lineItems(first: $lines, after: $after)" in q for q in queries)  # orders with >1 line paged on


def test_failed_bulk_operation_falls_back_and_its_partial_data_is_not_used(settings, shop):
    _, bulk_lines, _ = extract_rows(settings)
    shop.bulk_fail_code = "INTERNAL_SERVER_ERROR"
    shop.requests.clear()
    _, lines, counts = extract_rows(settings)
    assert lines == bulk_lines and counts["shopify_paged_windows"] == 8
    assert not [r for r in shop.requests if r["method"] == "GET"]  # partialDataUrl never fetched


def test_children_before_their_parent_in_the_jsonl(settings, shop):
    _, in_order, _ = extract_rows(settings)
    shop.children_first = True
    _, shuffled, _ = extract_rows(settings)
    assert shuffled == in_order


def test_http_429_honours_retry_after(settings, shop):
    calls = []

    def once(request):
        calls.append(1)
        return 429 if len(calls) == 2 else None

    shop.fail = once
    sleeps = Sleeps()
    _, lines, _ = extract_rows(settings, sleeps=sleeps)
    assert len(lines) == 6 and 3.0 in sleeps


def test_expired_access_token_is_a_clear_error_and_never_shown(tmp_path, monkeypatch, shop, caplog):
    secret = "shpat_expired_0123456789abcdef"
    settings = make_settings(tmp_path, monkeypatch, shop, shopify_access_token=secret)
    with caplog.at_level(logging.DEBUG), pytest.raises(ShopifyAuthError) as caught:
        pipeline.sync(settings, source(settings, FIRST_SYNC))
    message = caught.value.message
    assert "401 Unauthorized" in message and "shopify_access_token" in message
    record = pipeline.runs(settings)[0]
    assert record["status"] == "failed" and "401 Unauthorized" in record["error"]
    shown = message + json.dumps(pipeline.runs(settings)) + caplog.text + repr(settings) + str(settings.model_dump())
    assert secret not in shown
    assert isinstance(settings.shopify_access_token, SecretStr)
    pipeline.close(settings)


def test_client_credentials_token_is_renewed_when_it_expires_mid_run(tmp_path, monkeypatch, shop, caplog):
    settings = make_settings(tmp_path, monkeypatch, shop, shopify_access_token=None, shopify_client_id=shop.client_id,
                             shopify_client_secret=shop.client_secret)
    shop.expire_token_after = 5
    with caplog.at_level(logging.DEBUG):
        record = pipeline.sync(settings, source(settings, FIRST_SYNC))
    assert record["counts"]["order_lines"] == 6
    assert shop.token_requests == 2
    assert shop.client_secret not in caplog.text + json.dumps(pipeline.runs(settings))

    bad = make_settings(tmp_path, monkeypatch, shop, shopify_access_token=None, shopify_client_id=shop.client_id,
                        shopify_client_secret="wrong")
    with pytest.raises(ShopifyAuthError, match="refused the client credentials .*Client authentication failed"):
        source(bad, FIRST_SYNC).extract()
    pipeline.close(settings)


def test_missing_read_all_orders_scope_is_a_clear_error(settings, shop):
    shop.shop_created = "2024-06-01T00:00:00Z"  # older than 60 days: old orders exist
    shop.scopes = ["read_products", "read_orders"]
    with pytest.raises(ShopifyAccessDenied, match="read_all_orders.*only the last 60 days of orders"):
        pipeline.sync(settings, source(settings, FIRST_SYNC))
    assert pipeline.table_arrow(settings, catalog.ORDER_LINES).num_rows == 0
    shop.shop_created = "2025-01-01T00:00:00Z"  # a young shop has no order older than 60 days
    assert pipeline.sync(settings, source(settings, FIRST_SYNC))["status"] == "succeeded"


@pytest.mark.parametrize("use_bulk", [True, False])
def test_access_denied_by_shopify_names_the_scope(settings, shop, use_bulk):
    shop.deny_orders = True
    with pytest.raises(ShopifyAccessDenied, match="read_orders"):
        source(settings, FIRST_SYNC, use_bulk=use_bulk).extract().order_lines().__next__()


def test_settings_are_checked_before_a_run(tmp_path, monkeypatch, shop):
    settings = make_settings(tmp_path, monkeypatch, shop, shopify_shop=None, shopify_access_token=None)
    with pytest.raises(ConfigurationError, match="shopify_shop .*PERFTIERS_SHOPIFY_SHOP.*shopify_access_token"):
        make_source(settings, "shopify")
    ok = make_settings(tmp_path, monkeypatch, shop)
    assert isinstance(make_source(ok, "shopify"), ShopifySource)


@pytest.mark.parametrize("given, url", [
    ("my-store", "https://my-store.myshopify.com"),
    ("My-Store.myshopify.com", "https://my-store.myshopify.com"),
    ("https://my-store.myshopify.com/", "https://my-store.myshopify.com"),
    ("https://admin.shopify.com/store/my-store", "https://my-store.myshopify.com"),
    ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
])
def test_shop_names(given, url):
    assert shop_url(given) == url


def test_not_a_shop():
    with pytest.raises(ConfigurationError):
        shop_url("not a shop!")
