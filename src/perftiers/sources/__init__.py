"""Store sources: demo generator, canonical files, Shopify. Each returns a `StoreExtract`."""

from __future__ import annotations

from perftiers.errors import BadRequest
from perftiers.settings import Settings
from perftiers.sources.base import Source

SOURCE_NAMES = ("demo", "files", "shopify", "shopify-csv")


def make_source(settings: Settings, name: str | None = None, path: str | None = None) -> Source:
    """The source called `name` (default: `settings.sync_source`), configured from settings."""
    name = name or settings.sync_source
    if name == "demo":
        from perftiers.sources.demo import DemoSource

        return DemoSource.from_settings(settings)
    if name == "files":
        from perftiers.sources.files import FilesSource

        return FilesSource.from_settings(settings, path=path)
    if name == "shopify-csv":
        from perftiers.sources.shopify.csv_exports import ShopifyCsvSource

        return ShopifyCsvSource.from_settings(settings, path=path)
    if name == "shopify":
        from perftiers.sources.shopify import ShopifySource

        return ShopifySource.from_settings(settings)
    raise BadRequest(f"unknown source {name!r}; choose one of {', '.join(SOURCE_NAMES)}")
