"""The webhook events and formats by name: plain constants, apart from `metadata.webhooks` (SQLAlchemy)
so `perftiers webhooks add --help` can list them without loading the database layer."""

from __future__ import annotations

TIER_ENTERED = "tier.entered"
TIER_LEFT = "tier.left"
TIER_EVENTS = (TIER_ENTERED, TIER_LEFT)
FAILED_KIND = {"sync": "sync.failed", "refresh": "refresh.failed", "tags": "tags.failed"}
"""Run kind -> the event its failure sends (`tags` is the Shopify tag push)."""
EVENTS = (*TIER_EVENTS, *FAILED_KIND.values())
TEST_EVENT = "webhook.test"
FORMATS = ("json", "slack")
