"""Shopify: the Admin GraphQL API source (`shopify`) and the mapping it shares with `shopify-csv`.

    client.py   HTTP, authentication, throttling, retries, errors
    fetch.py    one updated_at window via a bulk operation (JSONL) or paginated queries
    source.py   ShopifySource: windows, the saved position, Shopify records -> canonical rows
    mapping.py  rules shared with the CSV export source (status, discounts, unmapped lines)
"""

from perftiers.sources.shopify.source import ShopifySource

__all__ = ["ShopifySource"]
