"""Delivering webhook alerts from the outbox (`metadata.webhooks`).

In:  due `webhook_delivery` rows, claimed one at a time under a lease.
Out: one POST per claim (httpx, `webhooks_timeout_seconds`, no redirects) and its outcome:
     2xx delivered; 410 Gone disables the subscription; anything else (an error status, a
     timeout, a refused target) is retried with exponential backoff (30 s, 1 min, 2 min, ... at
     most 1 h apart) until 24 h after the event, then given up.

At least once: a worker that dies after sending and before recording leaves a claim whose lease
ends, and the row is sent again with the same `Idempotency-Key` (the event id), which receivers use
to drop duplicates. The refresh and the failure path only write outbox rows, so a slow or broken
receiver never delays or fails a run. `perftiers serve` runs `AlertWorker`; `perftiers webhooks
deliver` runs `deliver_due` once. Both delete finished deliveries and their events older than
`webhooks_retention_days` (at most hourly in the worker).
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from perftiers.errors import PerftiersError
from perftiers.metadata import webhooks
from perftiers.metadata.db import engine_for
from perftiers.pipeline import alert_messages as messages
from perftiers.pipeline import webhook_targets as targets
from perftiers.settings import Settings

log = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=24)
PRUNE_EVERY = timedelta(hours=1)
"""How often a Deliverer deletes deliveries and events past `webhooks_retention_days`."""
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
USER_AGENT = "perftiers-webhooks/1"


def retry_delay(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt: 30 s, doubling, at most 1 h."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)


def lease(settings: Settings) -> timedelta:
    """How long a claim holds a row: longer than one send can take."""
    return timedelta(seconds=settings.webhooks_timeout_seconds * 2 + 5)


@dataclass
class Summary:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"delivered": self.delivered, "retrying": self.retrying, "failed": self.failed,
                "cancelled": self.cancelled}


def build_request(item: webhooks.Claimed, now: datetime) -> tuple[bytes, dict[str, str]] | None:
    """Body and headers for a claimed delivery; None when the subscription no longer wants it."""
    data = dict(item.payload)
    if item.kind in webhooks.TIER_EVENTS:
        products = webhooks.filter_products(data.get("products", []), item.tiers)
        if not products:
            return None
        if not data.get("truncated"):
            data["total"] = len(products)
        data["products"] = products
    headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json",
               "X-Perftiers-Event": item.kind, "X-Perftiers-Event-Id": item.event_id,
               "X-Perftiers-Delivery": str(item.id), "Idempotency-Key": item.event_id}
    if item.format == "slack":
        return messages.slack_body(item.kind, data), headers
    body = messages.json_body(item.event_id, item.kind, item.event_created_at, data)
    headers[messages.SIGNATURE_HEADER] = messages.sign(item.secret, int(now.timestamp()), body)
    return body, headers


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Deliverer:
    """Claims due deliveries and sends them; `client` and `resolver` are swappable for tests."""

    def __init__(self, settings: Settings, *, client: httpx.Client | None = None,
                 resolver: targets.Resolver = targets.resolve):
        self.settings = settings
        self.db = engine_for(settings.resolved_database_url)
        self.resolver = resolver
        self._pruned_at: datetime | None = None
        self._own_client = client is None
        self.client = client or httpx.Client(timeout=httpx.Timeout(settings.webhooks_timeout_seconds),
                                             follow_redirects=False, trust_env=False)

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def prune(self, now: datetime) -> tuple[int, int] | None:
        """Delete what `webhooks_retention_days` no longer keeps, at most once per PRUNE_EVERY; the
        (deliveries, events) deleted, or None when it was not yet time."""
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return None
        self._pruned_at = now
        deleted = webhooks.prune(self.db, now - timedelta(days=self.settings.webhooks_retention_days))
        if any(deleted):
            log.info("pruned %d webhook deliveries and %d events older than %d days", *deleted,
                     self.settings.webhooks_retention_days)
        return deleted

    def run_once(self, now: datetime | None = None, limit: int = 500) -> Summary:
        """Deliver everything due at `now` (at most `limit` rows), after pruning (see `prune`)."""
        try:
            self.prune(now or datetime.now(timezone.utc))
        except Exception as exc:  # housekeeping never stops deliveries
            log.warning("pruning old webhook deliveries failed: %s", exc)
        summary = Summary()
        for _ in range(limit):
            at = now or datetime.now(timezone.utc)
            item = webhooks.claim(self.db, at, lease(self.settings))
            if item is None:
                break
            summary.ids.append(item.id)
            outcome = self.deliver(item, at)
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        return summary

    def deliver(self, item: webhooks.Claimed, now: datetime) -> str:
        """Send one claimed delivery and record the outcome; returns the Summary field it counts in."""
        if not item.enabled or (item.kind != webhooks.TEST_EVENT and item.kind not in item.events):
            webhooks.finish(self.db, item, status="cancelled", now=now, attempted=False,
                            error="not sent: the subscription was disabled or no longer wants this event")
            return "cancelled"
        request = build_request(item, now)
        if request is None:
            webhooks.finish(self.db, item, status="cancelled", now=now, attempted=False,
                            error="not sent: no product moved in this subscription's tiers")
            return "cancelled"
        body, headers = request
        status_code, error = self._post(item.url, body, headers)
        if status_code is not None and 200 <= status_code < 300:
            webhooks.finish(self.db, item, status="delivered", now=now, status_code=status_code)
            log.info("webhook %s delivered %s to %s", item.id, item.kind, targets.describe(item.url))
            return "delivered"
        if status_code == 410:
            reason = f"disabled: the receiver answered 410 Gone at {now.isoformat(timespec='seconds')}"
            webhooks.finish(self.db, item, status="failed", now=now, status_code=410,
                            error="410 Gone: the subscription was disabled", disable_reason=reason)
            log.warning("webhook subscription %s disabled: %s answered 410", item.subscription_id,
                        targets.describe(item.url))
            return "failed"
        attempts = item.attempts + 1
        if now - item.created_at >= GIVE_UP_AFTER:
            webhooks.finish(self.db, item, status="failed", now=now, status_code=status_code,
                            error=f"gave up after {attempts} attempts over 24 h; last: {error}")
            log.warning("webhook %s to %s given up: %s", item.id, targets.describe(item.url), error)
            return "failed"
        next_at = min(now + retry_delay(attempts), item.created_at + GIVE_UP_AFTER)
        webhooks.finish(self.db, item, status="pending", now=now, status_code=status_code, error=error,
                        next_attempt_at=next_at)
        log.info("webhook %s to %s failed (%s); retry at %s", item.id, targets.describe(item.url), error,
                 next_at.isoformat(timespec="seconds"))
        return "retrying"

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        """(status code, error text); the target is checked again right before connecting."""
        try:
            target = targets.check(url, allow_private=self.settings.webhooks_allow_private_targets,
                                   resolver=self.resolver)
        except PerftiersError as exc:
            return None, _short(exc.message)
        pinned_url, host, extensions = target.pinned()
        try:
            response = self.client.post(pinned_url, content=body, headers={**headers, **host},
                                        extensions=extensions)
        except httpx.TimeoutException:
            return None, f"timed out after {self.settings.webhooks_timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            return None, _short(f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, _short(f"HTTP {response.status_code}: {response.text}")


def deliver_due(settings: Settings, now: datetime | None = None, **kwargs: Any) -> Summary:
    """One pass over the due deliveries (the CLI's `perftiers webhooks deliver`)."""
    deliverer = Deliverer(settings, **kwargs)
    try:
        return deliverer.run_once(now)
    finally:
        deliverer.close()


class AlertWorker:
    """The delivery loop of `perftiers serve`: a pass every `interval` seconds, or sooner on `wake()`."""

    def __init__(self, settings: Settings, *, interval: float = 5.0):
        self.settings, self.interval = settings, interval
        self.name = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.webhooks_timeout_seconds + 5)

    def _loop(self) -> None:
        deliverer = Deliverer(self.settings)
        try:
            while not self._stop.is_set():
                try:
                    deliverer.run_once()
                except Exception as exc:  # a DB outage: try again next pass
                    log.warning("webhook delivery pass failed: %s", exc)
                self._wake.wait(self.interval)
                self._wake.clear()
        finally:
            deliverer.close()
