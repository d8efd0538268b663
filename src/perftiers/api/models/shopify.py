"""The Shopify tag preview: what a push would add and remove."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TagCount(BaseModel):
    add: int = Field(description="Products that would gain this tag.")
    remove: int = Field(description="Products that would lose this tag.")


class TagChange(BaseModel):
    artifact_id: str = Field(description="The product handle.")
    product_id: str = Field(description="The product's Shopify GID.")
    add: list[str]
    remove: list[str]


class TagPreview(BaseModel):
    prefix: str = Field(description="shopify_tag_prefix: tags under it are perftiers'; others are never touched.")
    tiers: list[str] = Field(description="shopify_tag_tiers: the tiers that become tags.")
    shop_products: int = Field(description="Products in the shop.")
    products_tagged: int = Field(description="Shop products that should carry at least one tier tag.")
    products_to_change: int
    tags_to_add: int
    tags_to_remove: int
    not_in_shop: int = Field(description="Products of the mart with no Shopify product of that handle.")
    write_scope: bool = Field(description="Whether the app has write_products (a push needs it).")
    enabled: bool = Field(description="shopify_tags_enabled: pushes follow each refresh and may be started "
                                      "from the API (`POST /api/shopify/tags/push`).")
    by_tag: dict[str, TagCount]
    sample: list[TagChange] = Field(description="The first changes (at most 20), by product handle.")
