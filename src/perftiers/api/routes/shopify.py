"""`/api/shopify/tags`: what a tag push would write (editor), and starting a push (admin).

The preview reads the shop's current tags from Shopify (a bulk query), so it can take a while on
a large shop; it takes no lock and writes nothing. A push is a `tags` run like the one that
follows each refresh: under the pipeline lock, recorded in `/api/sync/runs` with added, removed
and failed counts. The API starts one only when `shopify_tags_enabled` is on (the opt-in);
`perftiers shopify push-tags` works either way.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from perftiers.api.deps import AdminDep, EditorDep, SettingsDep
from perftiers.api.models.common import ErrorBody
from perftiers.api.models.shopify import TagPreview
from perftiers.api.models.system import RunStarted
from perftiers.pipeline import jobs, tags

router = APIRouter(prefix="/api/shopify", tags=["shopify"])


@router.post("/tags/preview", response_model=TagPreview, summary="Tags a push would add and remove",
             responses={409: {"model": ErrorBody, "description": "No Shopify shop or token, a token Shopify refuses, "
                                                                  "a missing scope, or no tiers yet"},
                        502: {"model": ErrorBody, "description": "Shopify did not answer usefully"}})
def tags_preview(_: EditorDep, settings: SettingsDep) -> dict:
    return tags.preview(settings)


@router.post("/tags/push", response_model=RunStarted, status_code=status.HTTP_202_ACCEPTED,
             summary="Start a tag push in the background (a `tags` run; see /api/sync/runs)",
             responses={409: {"model": ErrorBody, "description": "shopify_tags_enabled is off, no Shopify shop or "
                                                                  "token, or a sync, refresh or push is running"}})
def tags_push(_: AdminDep, settings: SettingsDep) -> dict:
    tags.require_enabled(settings)
    return {**jobs.push_tags(settings, trigger="manual", background=True), "then_refresh": False}
