"""Store sources: demo generator, canonical files, Shopify (Admin API and CSV exports). Each
returns a `StoreExtract`; `SOURCES` is the one table of them."""

from __future__ import annotations

from typing import Callable, get_args

from perftiers.errors import BadRequest
from perftiers.settings import Settings, SourceName
from perftiers.sources.base import Source


def _demo(settings: Settings, path: str | None) -> Source:
    from perftiers.sources.demo import DemoSource

    return DemoSource.from_settings(settings)


def _files(settings: Settings, path: str | None) -> Source:
    from perftiers.sources.files import FilesSource

    return FilesSource.from_settings(settings, path=path)


def _shopify(settings: Settings, path: str | None) -> Source:
    from perftiers.sources.shopify import ShopifySource

    return ShopifySource.from_settings(settings)


def _shopify_csv(settings: Settings, path: str | None) -> Source:
    from perftiers.sources.shopify.csv_exports import ShopifyCsvSource

    return ShopifyCsvSource.from_settings(settings, path=path)


SOURCES: dict[SourceName, Callable[[Settings, str | None], Source]] = {
    "demo": _demo,
    "files": _files,
    "shopify": _shopify,
    "shopify-csv": _shopify_csv,
}
"""Every source by name (`settings.SourceName`, which `sync_source`, the CLI's `--source` and the
docs use): a factory from the settings and the folder to read (`--path`; only the file sources
read one). Each factory imports its source when called, so a sync loads only the one it uses."""


def make_source(settings: Settings, name: str | None = None, path: str | None = None) -> Source:
    """The source called `name` (default: `settings.sync_source`), configured from settings."""
    name = name or settings.sync_source
    factory = SOURCES.get(name)  # type: ignore[call-overload]
    if factory is None:
        raise BadRequest(f"unknown source {name!r}; choose one of {', '.join(get_args(SourceName))}")
    return factory(settings, path)
