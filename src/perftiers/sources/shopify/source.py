"""The `shopify` source: products and orders from the Admin GraphQL API, incrementally.

In:  the shop named by `shopify_shop`, with `shopify_access_token` or `shopify_client_id` +
     `shopify_client_secret`; the saved position (`macrodata_artifact` kind `shopify_cursor`).
Out: the products and order lines changed since the saved position (the sync upserts them by key,
     so unchanged rows stay as they are).

Each sync reads everything with `updated_at` in [saved position - `shopify_lookback_hours`, now):
products in one window, orders in windows of `window` (30 days) so a first sync of a large store
is cut into bounded bulk operations. A first sync has no lower bound. Refunds, order edits and
cancellations bump an order's `updated_at`, so its lines are read again and replaced.

The saved position moves to "now" only in `on_committed`, which the sync calls after every row
of the extract is committed. A run that fails anywhere (Shopify down mid-window, a crash, a
failed commit) leaves the position where it was; the next run reads those windows again and the
upsert by `line_id` keeps each line once.

Order lines (canonical columns <- Shopify):
  order_id <- order `name` (`#1001`); line_id <- line item `id` (a stable GID);
  ordered_at <- `processedAt` (the sale time, also for imported orders), else `createdAt`;
  artifact_id <- `product.handle` (no product: reported as unmapped, see `mapping`);
  quantity <- `quantity`; refunded_quantity <- `quantity - currentQuantity` (refunds and units
  removed by order edits); unit_price <- `originalUnitPriceSet.shopMoney`; discount <- sum of
  `discountAllocations` in shop money, pro-rated to the units kept; cancelled <- `cancelledAt` set;
  currency <- the shop-money currency.
Products: artifact_id <- `handle`; product_name <- `title`; product_type <- `productType`;
  vendor; tags; is_active <- `status` ACTIVE or UNLISTED; launched_at <- `publishedAt`.

The shop's timezone (`shop.ianaTimezone`) is the store timezone when the `timezone` setting is
not configured: once the sync has committed, it is set on the settings of this process (a refresh
that follows uses it) and saved in the data folder's perftiers.toml (every later process uses it;
not when PERFTIERS_CONFIG names another file: then the run says so in its `warnings`). A
configured timezone is kept; when it differs from the shop's the run record gets a warning (the
CLI prints it) and `perftiers doctor` warns too. Each saved position records the timezone the
shop had (`{"shop", "until", "timezone"}`), which the doctor falls back on.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from perftiers.errors import ConfigurationError
from perftiers.metadata import artifacts
from perftiers.metadata.db import engine_for
from perftiers.settings import Settings, remember
from perftiers.sources.base import StoreExtract
from perftiers.sources.shopify.client import AdminClient, ShopifyAccessDenied, ShopifyError, shop_url
from perftiers.sources.shopify.fetch import Fetcher, iso
from perftiers.sources.shopify.mapping import (
    LineBatches,
    Unmapped,
    check_money,
    is_active_status,
    kept_discount,
    money,
    products_table,
)

log = logging.getLogger("perftiers.sources.shopify")

CURSOR_KIND = "shopify_cursor"
RECENT_ORDERS = timedelta(days=60)
"""Without read_all_orders, Shopify shows only orders this recent."""
SHOP_QUERY = """query ShopInfo {
  shop { name createdAt currencyCode ianaTimezone }
  currentAppInstallation { accessScopes { handle } }
}"""
TIMEZONE_QUERY = "query ShopTimezone { shop { ianaTimezone } }"


def parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def windows(start: datetime, end: datetime, size: timedelta, *, open_start: bool) -> list[tuple[datetime | None, datetime]]:
    """[start, end) cut into pieces of `size` (at least one); with `open_start` the first piece has
    no lower bound, so a first sync also gets anything dated before the shop's creation (imports)."""
    out: list[tuple[datetime | None, datetime]] = []
    while start < end:
        out.append((start, min(start + size, end)))
        start = min(start + size, end)
    out = out or [(end, end)]
    if open_start:
        out[0] = (None, out[0][1])
    return out


def saved_position(settings: Settings, shop: str) -> datetime | None:
    engine = engine_for(settings.resolved_database_url)
    for art in artifacts.history(engine, CURSOR_KIND):
        if art.body.get("shop") == shop:
            return parse_ts(art.body.get("until"))
    return None


def recorded_timezone(settings: Settings, shop: str) -> str | None:
    """The shop's timezone as the last sync that saw one recorded it."""
    engine = engine_for(settings.resolved_database_url)
    for art in artifacts.history(engine, CURSOR_KIND):
        if art.body.get("shop") == shop and art.body.get("timezone"):
            return str(art.body["timezone"])
    return None


def shop_timezone(info: dict[str, Any]) -> str | None:
    """`shop.ianaTimezone` of a shop query's answer, when this machine knows the zone."""
    name = (info.get("shop") or {}).get("ianaTimezone")
    if not name:
        return None
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("Shopify names the shop's timezone %r, which this machine does not know; ignored", name)
        return None
    return str(name)


def timezone_mismatch(settings: Settings, shop_tz: str | None, shop: str) -> str | None:
    """The warning for a configured timezone that is not the shop's, else None."""
    if not shop_tz or not settings.timezone_configured or settings.timezone == shop_tz:
        return None
    return (f"the shop {shop.split('://')[-1]} is in {shop_tz} but the timezone setting is {settings.timezone}: days, "
            f"sales windows and launch days are cut at midnight {settings.timezone}, not at the shop's midnight. "
            f'Remove the timezone setting to use the shop\'s, or set timezone = "{shop_tz}".')


def adopt_timezone(settings: Settings, shop_tz: str) -> str | None:
    """Make the shop's timezone the store timezone: in this process, and saved in the data folder's
    perftiers.toml for later ones. Returns the file written (None when PERFTIERS_CONFIG names the
    settings file: it is the user's, and not edited)."""
    settings.timezone = shop_tz
    if os.environ.get("PERFTIERS_CONFIG"):
        return None
    try:
        path = remember(settings, {"timezone": shop_tz})
    except OSError as exc:  # the rows are committed: a read-only data folder must not fail the sync now
        log.warning("could not save timezone = %r in the data folder's perftiers.toml (%s); set it there", shop_tz, exc)
        return None
    return str(path) if path else None


def ask_timezone(settings: Settings, *, timeout: float = 10.0) -> str | None:
    """The shop's timezone, asked once (no retries); raises what the client raises."""
    client = admin_client(settings, shop_url(settings.shopify_shop or ""), sleep=lambda _: None, max_retries=0,
                          timeout=timeout)
    try:
        return shop_timezone(client.graphql(TIMEZONE_QUERY))
    finally:
        client.close()


def admin_client(settings: Settings, shop: str, **options: Any) -> AdminClient:
    s = settings
    token = None if s.shopify_client_id and s.shopify_client_secret else s.shopify_access_token
    return AdminClient(shop, s.shopify_api_version, access_token=token, client_id=s.shopify_client_id,
                       client_secret=s.shopify_client_secret, **options)


def _amount(money_bag: dict[str, Any] | None) -> tuple[Decimal, str | None]:
    shop_money = (money_bag or {}).get("shopMoney") or {}
    text = str(shop_money.get("amount") or "0")
    try:
        value = Decimal(text)
        check_money(value, text)
    except (ArithmeticError, ValueError) as exc:
        raise ShopifyError(f"Shopify sent an amount perftiers cannot store: {exc}") from None
    return value, shop_money.get("currencyCode")


class _Orders:
    """Joins line-item records to their orders (in any order) and makes canonical rows."""

    def __init__(self, currency: str, unmapped: Unmapped, seen: set[str]):
        self.currency, self.unmapped, self.seen = currency, unmapped, seen
        self.orders: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, list[dict[str, Any]]] = {}

    def feed(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        parent = record.get("__parentId")
        if parent is None:
            self.orders[record["id"]] = record
            for item in self.pending.pop(record["id"], []):
                yield from self._row(record, item)
        elif parent in self.orders:
            yield from self._row(self.orders[parent], record)
        else:
            self.pending.setdefault(parent, []).append(record)

    def end_window(self) -> None:
        if self.pending:
            orphan = next(iter(self.pending))
            raise ShopifyError(f"Shopify sent line items of order {orphan} without the order")
        self.orders.clear()

    def _row(self, order: dict[str, Any], item: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if item["id"] in self.seen:  # changed while this sync ran: the next sync reads it again
            return
        self.seen.add(item["id"])
        quantity = int(item.get("quantity") or 0)
        current = item.get("currentQuantity")
        refunded = min(quantity, max(0, quantity - int(quantity if current is None else current)))
        cancelled = order.get("cancelledAt") is not None
        handle = (item.get("product") or {}).get("handle")
        if not handle:
            sku = f"SKU {item.get('sku')!r}" if item.get("sku") else "no SKU"
            self.unmapped.add(f"{order.get('name')}: {item.get('name')!r} ({sku}) has no product "
                              "(deleted, or a custom item)", 0 if cancelled else quantity - refunded)
            return
        price, currency = _amount(item.get("originalUnitPriceSet"))
        discount = sum((_amount(a.get("allocatedAmountSet"))[0] for a in item.get("discountAllocations") or []),
                       Decimal(0))
        yield dict(
            order_id=order.get("name") or order["id"], line_id=item["id"],
            ordered_at=parse_ts(order.get("processedAt") or order.get("createdAt")), artifact_id=handle,
            quantity=quantity, unit_price=money(price), discount=kept_discount(discount, quantity, refunded),
            refunded_quantity=refunded, cancelled=cancelled,
            currency=currency or order.get("currencyCode") or self.currency,
        )


def _product(node: dict[str, Any]) -> dict[str, Any]:
    return dict(
        artifact_id=node["handle"], product_name=node.get("title"), product_type=node.get("productType") or None,
        vendor=node.get("vendor") or None, tags=[t.strip() for t in node.get("tags") or [] if t.strip()],
        is_active=is_active_status(node.get("status") or "ACTIVE"), launched_at=parse_ts(node.get("publishedAt")),
    )


class ShopifySource:
    name = "shopify"

    def __init__(
        self,
        settings: Settings,
        *,
        window: timedelta = timedelta(days=30),
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        use_bulk: bool = True,
        poll_interval: float = 0.5,
        **fetch_options: Any,
    ):
        missing = []
        if not settings.shopify_shop:
            missing.append("shopify_shop (PERFTIERS_SHOPIFY_SHOP)")
        if settings.shopify_access_token is None and not (settings.shopify_client_id and settings.shopify_client_secret):
            missing.append("shopify_access_token (PERFTIERS_SHOPIFY_ACCESS_TOKEN), or shopify_client_id and "
                           "shopify_client_secret (PERFTIERS_SHOPIFY_CLIENT_ID / _CLIENT_SECRET)")
        if missing:
            raise ConfigurationError(f"the shopify source needs {' and '.join(missing)}; see docs/shopify.md")
        self.settings = settings
        self.shop = shop_url(settings.shopify_shop or "")
        self.window, self.sleep = window, sleep
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.fetch_options = dict(use_bulk=use_bulk, poll_interval=poll_interval, **fetch_options)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ShopifySource":
        return cls(settings)

    def _client(self) -> AdminClient:
        return admin_client(self.settings, self.shop, sleep=self.sleep)

    def extract(self) -> StoreExtract:
        client = self._client()
        try:
            fetcher = Fetcher(client, sleep=self.sleep, **self.fetch_options)
            until = self.now().astimezone(timezone.utc).replace(microsecond=0)
            info = client.graphql(SHOP_QUERY)
            shop_created = parse_ts((info.get("shop") or {}).get("createdAt"))
            _check_scopes(info, client, shop_created, until)
            saved = saved_position(self.settings, self.shop)
            since = saved - timedelta(hours=self.settings.shopify_lookback_hours) if saved else None
            log.info("Shopify %s: reading changes %s", self.shop, f"since {iso(since)}" if since else "since the start")
            products: dict[str, dict[str, Any]] = {}
            for node in fetcher.records("products", since, until):
                if node["handle"] not in products or node["updatedAt"] >= products[node["handle"]]["updatedAt"]:
                    products[node["handle"]] = node
        except BaseException:
            client.close()
            raise
        order_windows = windows(since or shop_created or until, until, self.window, open_start=since is None)
        shop_tz = shop_timezone(info)
        adopt = shop_tz if shop_tz and not self.settings.timezone_configured and shop_tz != self.settings.timezone \
            else None
        counts: dict[str, Any] = {"shopify_since": iso(since) if since else None, "shopify_until": iso(until),
                                  "shopify_order_windows": len(order_windows), "shopify_timezone": shop_tz,
                                  "store_timezone": adopt or self.settings.timezone}
        warnings = [w for w in [timezone_mismatch(self.settings, shop_tz, self.shop)] if w]
        if adopt and os.environ.get("PERFTIERS_CONFIG"):
            warnings.append(f"the timezone setting is not configured, so this run uses the shop's, {adopt}; add "
                            f'timezone = "{adopt}" to {os.environ["PERFTIERS_CONFIG"]} so that every run does')
        for warning in warnings:
            log.warning("Shopify: %s", warning)
        done: dict[str, datetime | None] = {"until": None}
        currency = (info.get("shop") or {}).get("currencyCode") or self.settings.currency

        def order_lines() -> Iterator[pa.RecordBatch]:
            unmapped, batches, seen = Unmapped(), LineBatches(), set()
            orders = _Orders(currency, unmapped, seen)
            try:
                for start, end in order_windows:
                    for record in fetcher.records("orders", start, end):
                        for row in orders.feed(record):
                            batch = batches.add(row)
                            if batch is not None:
                                yield batch
                    orders.end_window()
                    last = batches.flush()
                    if last is not None:
                        yield last
                    done["until"] = end  # every row up to here is handed to the sync
                unmapped.report(counts, self.name)
                counts.update(shopify_bulk_operations=fetcher.windows["bulk"],
                              shopify_paged_windows=fetcher.windows["paged"], shopify_api_calls=client.calls,
                              shopify_throttle_wait_seconds=round(client.waited, 1))
            finally:
                client.close()

        def on_committed() -> None:
            if adopt:
                saved = adopt_timezone(self.settings, adopt)
                log.info("the shop's timezone %s is the store timezone from now on%s", adopt,
                         f" (saved in {saved})" if saved else "")
            if done["until"] is None:
                return
            engine = engine_for(self.settings.resolved_database_url)
            position = {"shop": self.shop, "until": iso(done["until"]), "timezone": shop_tz}
            artifacts.append(engine, CURSOR_KIND, position, created_by="shopify sync")

        return StoreExtract(
            products=products_table([_product(p) for p in products.values()]),
            order_lines=order_lines,
            counts=counts,
            on_committed=on_committed,
            warnings=warnings,
        )


def _check_scopes(info: dict[str, Any], client: AdminClient, shop_created: datetime | None, until: datetime) -> None:
    """Refuse to run without the scopes a complete, correct sync needs (clear message, no partial data)."""
    listed = ((info.get("currentAppInstallation") or {}).get("accessScopes")) or []
    scopes = {s.get("handle") for s in listed} or client.granted_scopes or set()
    if not scopes:
        return

    def has(scope: str) -> bool:
        return scope in scopes or scope.replace("read_", "write_") in scopes

    missing = [s for s in ("read_products", "read_orders") if not has(s)]
    old_orders = shop_created is None or shop_created < until - RECENT_ORDERS
    if old_orders and "read_all_orders" not in scopes:
        missing.append("read_all_orders")
    if not missing:
        return
    why = (" Without read_all_orders Shopify shows only the last 60 days of orders, so older sales and later "
           "refunds of older orders would silently be missing." if "read_all_orders" in missing else "")
    raise ShopifyAccessDenied(
        f"the Shopify app lacks the access scope(s) {', '.join(missing)}.{why} Add them to the app "
        "(Dev Dashboard: your app > Versions > Access scopes; admin-made custom app: Settings > Apps > "
        "Develop apps > your app > Configuration) and install the new version on the shop."
    )
