"""Webhook subscriptions and their delivery log (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from perftiers.metadata.webhook_events import EVENTS

EventName = Literal[EVENTS]  # the events are named once, in metadata.webhook_events
TierName = Literal["top_riser", "winner", "banana", "archive_candidate"]
Format = Literal["json", "slack"]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="http(s) URL; private targets are refused "
                                                                "unless `webhooks_allow_private_targets`.")
    events: list[EventName] = Field(default_factory=lambda: list(EVENTS),
                                    min_length=1, max_length=10, description="Events to send (default all).")
    tiers: list[TierName] = Field(default_factory=lambda: ["top_riser", "winner", "banana", "archive_candidate"],
                                  min_length=1, max_length=4,
                                  description="Tiers whose `tier.entered` / `tier.left` moves to send (default all).")
    format: Format = Field("json", description="`json` (signed) or `slack` (an incoming-webhook message).")
    enabled: bool = True


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, min_length=1, max_length=2048)
    events: list[EventName] | None = Field(None, min_length=1, max_length=10)
    tiers: list[TierName] | None = Field(None, min_length=1, max_length=4)
    format: Format | None = None
    enabled: bool | None = Field(None, description="`true` re-enables a subscription disabled by a 410.")


class Webhook(BaseModel):
    id: int
    url: str
    events: list[str]
    tiers: list[str]
    format: str
    enabled: bool
    disabled_reason: str | None = Field(None, description="Why it was disabled (e.g. the receiver answered 410).")
    created_at: datetime
    created_by: str
    updated_at: datetime


class WebhookCreated(Webhook):
    secret: str = Field(description="The signing secret (`whsec_...`): shown in this answer only, never again.")


class WebhookList(BaseModel):
    items: list[Webhook]


class WebhookDelivery(BaseModel):
    id: int
    event_id: str = Field(description="Also the `Idempotency-Key` the receiver gets.")
    event: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    delivered_at: datetime | None


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDelivery]


class WebhookTestQueued(BaseModel):
    event_id: str
    delivery_id: int
