"""`/api/shopify/tags/preview`: what a tag push would write, before anything is written (editor).

It reads the shop's current tags from Shopify (a bulk query), so it can take a while on a large
shop; it takes no lock and writes nothing. The push itself is `perftiers shopify push-tags` and
follows each refresh when `shopify_tags_enabled`.
"""

from __future__ import annotations

from fastapi import APIRouter

from perftiers.api.deps import EditorDep, SettingsDep
from perftiers.api.models.common import ErrorBody
from perftiers.api.models.shopify import TagPreview
from perftiers.pipeline import tags

router = APIRouter(prefix="/api/shopify", tags=["shopify"])


@router.post("/tags/preview", response_model=TagPreview, summary="Tags a push would add and remove",
             responses={409: {"model": ErrorBody, "description": "No Shopify shop or token, a token Shopify refuses, a missing scope, or no tiers yet"},
                        502: {"model": ErrorBody, "description": "Shopify did not answer usefully"}})
def tags_preview(_: EditorDep, settings: SettingsDep) -> dict:
    return tags.preview(settings)
