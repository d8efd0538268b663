"""The names of the sync sources, apart from the settings so `perftiers --help` can print them
without loading pydantic (`settings.SourceName` is this Literal; `sources.SOURCES` maps each name)."""

from __future__ import annotations

from typing import Literal

SourceName = Literal["demo", "files", "shopify", "shopify-csv"]
"""The sources `perftiers.sources.SOURCES` can make (a test keeps the two the same)."""
