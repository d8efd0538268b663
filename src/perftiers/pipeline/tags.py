"""The Shopify tag push: tiers from the mart -> tags on the shop's products (a `tags` run).

In:  `measurement.performance` (the four flags per product handle), the shop's products with
     their current tags (read from Shopify just before planning), and the settings
     `shopify_tag_prefix` / `shopify_tag_tiers`.
Out: tags added and removed in Shopify (`sources.shopify.tag_writes`), and a `tags` run record
     with the plan's counts, `added`, `removed`, `failed` and the first userErrors (`tag_errors`).

`preview` plans without writing and without the lock (the dry run, the API preview). `push` runs
under the pipeline lock through `jobs.push_tags` (the CLI, each refresh when enabled, and the API's
`POST /api/shopify/tags/push` when enabled), so one push at a time and never beside a sync or a
refresh. Any userError fails the run (after the other products were written) so that a
`tags.failed` alert goes out; the next push retries just those products.
"""

from __future__ import annotations

import logging
from typing import Any

from perftiers.errors import Conflict, PerftiersError
from perftiers.lakehouse import catalog
from perftiers.rules import FLAGS
from perftiers.runcontext import RunContext
from perftiers.settings import Settings
from perftiers.sources.shopify import tag_writes
from perftiers.sources.shopify.client import shop_url
from perftiers.sources.shopify.source import admin_client
from perftiers.sources.shopify.tags import Plan, desired_tags, plan

log = logging.getLogger(__name__)


class ShopifyNotConfigured(Conflict):
    code = "shopify_not_configured"


class TagsDisabled(Conflict):
    code = "shopify_tags_disabled"


class TagsRejected(PerftiersError):
    """Shopify answered userErrors for some products; the others were written."""

    status_code = 502
    code = "shopify_user_errors"


def desired(settings: Settings) -> dict[str, list[str]]:
    """{artifact_id (handle): perftiers tags} from the current measurement.performance."""
    table = catalog.load_existing(settings, catalog.PERFORMANCE)
    if table is None or table.current_snapshot() is None:
        raise Conflict("there are no tiers to tag yet: run a sync and a refresh first")
    rows = table.scan(selected_fields=("artifact_id", *FLAGS)).to_arrow().to_pylist()
    return {r["artifact_id"]: desired_tags(r, settings.shopify_tag_prefix, settings.shopify_tag_tiers) for r in rows}


def require_shop(settings: Settings) -> None:
    """Raise ShopifyNotConfigured (409 in the API) unless a shop and its credentials are set."""
    if not settings.shopify_shop or (settings.shopify_access_token is None
                                     and not (settings.shopify_client_id and settings.shopify_client_secret)):
        raise ShopifyNotConfigured(
            "tagging products needs a Shopify shop: set shopify_shop and shopify_access_token (or "
            "shopify_client_id and shopify_client_secret) with the write_products scope; see docs/shopify.md")


def require_enabled(settings: Settings) -> None:
    """A push started from the API or the dashboard needs the opt-in `shopify_tags_enabled` (the CLI's
    `perftiers shopify push-tags` is the operator's own act and does not)."""
    if not settings.shopify_tags_enabled:
        raise TagsDisabled("tag write-back is off: set shopify_tags_enabled=true (PERFTIERS_SHOPIFY_TAGS_ENABLED) "
                           "to push from the dashboard and after each refresh, or run `perftiers shopify push-tags`")
    require_shop(settings)


def _writer(settings: Settings, **options: Any) -> tag_writes.TagWriter:
    require_shop(settings)
    client_options = {k: options[k] for k in ("sleep",) if k in options}
    client = admin_client(settings, shop_url(settings.shopify_shop), **client_options)
    return tag_writes.TagWriter(client, **{"bulk_threshold": settings.shopify_tag_bulk_threshold, **options})


def _plan(settings: Settings, writer: tag_writes.TagWriter) -> Plan:
    wanted = desired(settings)
    return plan(writer.current_tags(), wanted, settings.shopify_tag_prefix)


def summary(p: Plan, settings: Settings) -> dict[str, Any]:
    return {"prefix": settings.shopify_tag_prefix, "tiers": list(settings.shopify_tag_tiers), **p.counts(),
            "by_tag": p.by_tag(), "sample": p.sample()}


def preview(settings: Settings, **options: Any) -> dict[str, Any]:
    """What a push would add and remove now (reads Shopify, writes nothing, takes no lock)."""
    writer = _writer(settings, **options)
    try:
        scopes = tag_writes.granted_scopes(writer.client)
        p = _plan(settings, writer)
    finally:
        writer.client.close()
    return {**summary(p, settings), "write_scope": tag_writes.WRITE_SCOPE in scopes,
            "enabled": settings.shopify_tags_enabled}


def push(ctx: RunContext, **options: Any) -> dict[str, Any]:
    """The `tags` job: check the scope, plan from Shopify's current tags, write the plan."""
    settings = ctx.settings
    writer = _writer(settings, **options)
    try:
        tag_writes.require_write_scope(writer.client)
        ctx.progress("reading Shopify tags", None, None)
        p = _plan(settings, writer)
        ctx.progress("writing tags", None, None)
        result = writer.push(p)
    finally:
        writer.client.close()
    counts = {**p.counts(), **result.counts(), "shopify_api_calls": writer.client.calls}
    fields = {"counts": counts, "mode": result.mode, "tag_errors": result.errors}
    log.info("tags pushed: %d added, %d removed, %d product(s) failed (%s)", result.tags_added,
             result.tags_removed, result.failed, result.mode)
    if result.failed:
        ctx.record.update(fields)
        first = result.errors[0] if result.errors else {}
        raise TagsRejected(f"Shopify refused the tags of {result.failed} product(s), e.g. {first.get('artifact_id')}: "
                           f"{first.get('message')}; the other products were tagged and the next push retries these")
    return fields
