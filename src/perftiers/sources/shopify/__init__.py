"""Shopify: the Admin GraphQL API source (`shopify`) and the admin's CSV exports (`shopify-csv`).

    client.py   HTTP, authentication, throttling, retries, errors
    fetch.py    one updated_at window via a bulk operation (JSONL) or paginated queries
    source.py   ShopifySource: windows, the saved position, Shopify records -> canonical rows
    mapping.py  rules shared with the CSV export source (status, discounts, unmapped lines)
    csv_exports.py  ShopifyCsvSource: the Products and Orders CSV exports, as downloaded
"""

from perftiers.sources.shopify.source import ShopifySource

__all__ = ["ShopifySource"]
