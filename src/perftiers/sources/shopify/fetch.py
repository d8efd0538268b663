"""Reading one `updated_at` window of products or orders: a bulk operation, or pages as fallback.

Both ways yield the same flat records: a product, or an order followed at some point by its line
items, each line item carrying `__parentId` (the order's id), exactly as a bulk operation's JSONL
file has them.

Bulk (the default): `bulkOperationRunQuery`, then `node(id:)` polled (growing interval) until the
operation ends. COMPLETED -> the JSONL at `url` (none when nothing matched). A bulk operation
that cannot start (`userErrors`, e.g. one already running for this app) or ends FAILED,
CANCELED or EXPIRED is not trusted, not even its `partialDataUrl`: that window is read again
with paginated queries. An ACCESS_DENIED error code is a missing scope and raised as such.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from perftiers.sources.shopify.client import AdminClient, QueryTooCostly, ShopifyAccessDenied, ShopifyError

log = logging.getLogger("perftiers.sources.shopify")

PRODUCT_FIELDS = "id handle title vendor productType tags status publishedAt createdAt updatedAt"
ORDER_FIELDS = "id name createdAt processedAt updatedAt cancelledAt currencyCode displayFinancialStatus"
LINE_FIELDS = (
    "id sku name quantity currentQuantity "
    "originalUnitPriceSet { shopMoney { amount currencyCode } } "
    "discountAllocations { allocatedAmountSet { shopMoney { amount currencyCode } } } "
    "product { handle }"
)

RUN_BULK = """mutation RunBulk($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message } }
}"""
POLL_BULK = """query PollBulk($id: ID!) {
  node(id: $id) { ... on BulkOperation { id status errorCode objectCount url partialDataUrl } }
}"""
PRODUCTS_PAGE = f"""query Products($first: Int!, $after: String, $query: String!) {{
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }} nodes {{ {PRODUCT_FIELDS} }}
  }}
}}"""
ORDERS_PAGE = f"""query Orders($first: Int!, $after: String, $query: String!, $lines: Int!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {ORDER_FIELDS} lineItems(first: $lines) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {LINE_FIELDS} }} }} }}
  }}
}}"""
MORE_LINES = f"""query OrderLines($id: ID!, $after: String, $lines: Int!) {{
  node(id: $id) {{ ... on Order {{
    lineItems(first: $lines, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {LINE_FIELDS} }} }}
  }} }}
}}"""

RUNNING = ("CREATED", "RUNNING", "CANCELING")


class BulkUnavailable(Exception):
    """This window cannot be read by a bulk operation; read it page by page."""


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def search(since: datetime | None, until: datetime) -> str:
    """Shopify search syntax for since <= updated_at < until (no lower bound when since is None)."""
    upper = f"updated_at:<'{iso(until)}'"
    return f"updated_at:>='{iso(since)}' AND {upper}" if since else upper


def bulk_query(resource: str, filter_: str) -> str:
    if resource == "products":
        inner = PRODUCT_FIELDS
    else:
        inner = f"{ORDER_FIELDS} lineItems {{ edges {{ node {{ {LINE_FIELDS} }} }} }}"
    return f"{{ {resource}(query: {json.dumps(filter_)}) {{ edges {{ node {{ {inner} }} }} }} }}"


class Fetcher:
    def __init__(
        self,
        client: AdminClient,
        *,
        use_bulk: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 0.5,
        max_poll_interval: float = 30.0,
        bulk_timeout: float = 6 * 3600.0,
        products_page: int = 100,
        orders_page: int = 10,
        lines_page: int = 50,
    ):
        self.client, self.use_bulk, self.sleep = client, use_bulk, sleep
        self.poll_interval, self.max_poll_interval, self.bulk_timeout = poll_interval, max_poll_interval, bulk_timeout
        self.products_page, self.orders_page, self.lines_page = products_page, orders_page, lines_page
        self.windows = {"bulk": 0, "paged": 0}

    def records(self, resource: str, since: datetime | None, until: datetime) -> Iterator[dict[str, Any]]:
        filter_ = search(since, until)
        if self.use_bulk:
            try:
                url = self._run_bulk(bulk_query(resource, filter_))
            except BulkUnavailable as exc:
                log.warning("Shopify bulk operation for %s [%s] unusable (%s); reading it page by page",
                            resource, filter_, exc)
            else:
                self.windows["bulk"] += 1
                if url:
                    yield from self.client.jsonl(url)
                return
        self.windows["paged"] += 1
        yield from (self._products_paged(filter_) if resource == "products" else self._orders_paged(filter_))

    # -- bulk operations ------------------------------------------------------------------

    def _run_bulk(self, query: str) -> str | None:
        """Run a bulk query to its end; the result URL (None: no rows) or BulkUnavailable."""
        payload = self.client.graphql(RUN_BULK, {"query": query}).get("bulkOperationRunQuery") or {}
        errors = payload.get("userErrors") or []
        op = payload.get("bulkOperation")
        if errors or not op:
            raise BulkUnavailable("; ".join(e.get("message", "") for e in errors) or "no bulk operation returned")
        interval = self.poll_interval
        deadline = time.monotonic() + self.bulk_timeout
        while op.get("status") in RUNNING:
            if time.monotonic() > deadline:
                raise BulkUnavailable(f"still {op.get('status')} after {self.bulk_timeout:.0f} s")
            self.sleep(interval)
            interval = min(self.max_poll_interval, interval * 1.5)
            op = self.client.graphql(POLL_BULK, {"id": op["id"]}).get("node") or {}
        status, error = op.get("status"), op.get("errorCode")
        if status == "COMPLETED":
            return op.get("url")
        if error == "ACCESS_DENIED":
            raise ShopifyAccessDenied(
                "a Shopify bulk operation was denied access: the app lacks a scope it needs "
                "(read_products, read_orders, read_all_orders); add it and install the app again."
            )
        raise BulkUnavailable(f"status {status}, errorCode {error}")

    # -- paginated fallback ---------------------------------------------------------------

    def _pages(self, query: str, field: str, variables: dict[str, Any], size_attr: str) -> Iterator[dict[str, Any]]:
        """Every node of a paginated connection; the page shrinks when Shopify finds it too costly."""
        after = None
        while True:
            size = getattr(self, size_attr)
            try:
                data = self.client.graphql(query, {**variables, "first": size, "after": after})
            except QueryTooCostly:
                if size <= 1:
                    raise
                setattr(self, size_attr, size // 2)
                log.info("Shopify query too costly; %s lowered to %d", size_attr, size // 2)
                continue
            conn = data.get(field) or {}
            yield from conn.get("nodes") or []
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")

    def _products_paged(self, filter_: str) -> Iterator[dict[str, Any]]:
        return self._pages(PRODUCTS_PAGE, "products", {"query": filter_}, "products_page")

    def _orders_paged(self, filter_: str) -> Iterator[dict[str, Any]]:
        variables = {"query": filter_, "lines": self.lines_page}
        for order in self._pages(ORDERS_PAGE, "orders", variables, "orders_page"):
            items = order.pop("lineItems", None) or {}
            yield order
            yield from self._lines_of(order["id"], items)

    def _lines_of(self, order_id: str, items: dict[str, Any]) -> Iterator[dict[str, Any]]:
        while True:
            for line in items.get("nodes") or []:
                yield {**line, "__parentId": order_id}
            info = items.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            node = self.client.graphql(MORE_LINES, {"id": order_id, "after": info.get("endCursor"),
                                                    "lines": self.lines_page}).get("node")
            if not node:
                raise ShopifyError(f"order {order_id} vanished while its line items were read")
            items = node.get("lineItems") or {}
