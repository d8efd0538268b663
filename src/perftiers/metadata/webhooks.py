"""Webhook subscriptions and their outbox, in the metadata DB.

In:  subscriptions saved by admins; events written by the pipeline in the transaction that records
     the run (`enqueue`: a refresh's tier moves with its `mart_refresh` artifact, a failed run in
     `pipeline.runs`).
Out: one `webhook_event` per (run, kind) (its idempotency key makes a second write a no-op) and one
     `webhook_delivery` per (event, subscription that wants it), which `pipeline.alerts` claims,
     sends and records.

A delivery is `pending` (due at `next_attempt_at`), then `delivered`, `failed` (gave up, or 410) or
`cancelled` (its subscription was disabled or no longer wants it). A claim is one atomic UPDATE
that sets a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL): replicas never claim the same row at
once, and a worker that dies mid-send leaves a row that is due again when its lease ends.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable
from urllib.parse import quote

import sqlalchemy as sa

from perftiers.errors import NotFound
from perftiers.metadata.db import webhook_delivery, webhook_event, webhook_subscription
from perftiers.metadata.webhook_events import (  # noqa: F401 (the names are used as webhooks.EVENTS, ...)
    EVENTS,
    FAILED_KIND,
    FORMATS,
    TEST_EVENT,
    TIER_ENTERED,
    TIER_EVENTS,
    TIER_LEFT,
)
from perftiers.rules import TIERS

STATUSES = ("pending", "delivered", "failed", "cancelled")
CLAIM_TRIES = 5
"""How often `claim` moves on to the next due delivery when another worker took the one it picked."""
SECRET_PREFIX = "whsec_"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def product_link(public_url: str | None, artifact_id: str) -> str | None:
    """The dashboard filtered to one product (None without `public_url`)."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/?search={quote(artifact_id, safe='')}"


# -- subscriptions ---------------------------------------------------------------------------

def _public(row: Any) -> dict[str, Any]:
    """A subscription as the API and CLI show it: never its secret."""
    return {"id": row.id, "url": row.url, "events": list(row.events), "tiers": list(row.tiers),
            "format": row.format, "enabled": bool(row.enabled), "disabled_reason": row.disabled_reason,
            "created_at": _utc(row.created_at), "created_by": row.created_by, "updated_at": _utc(row.updated_at)}


def create(db: sa.Engine, *, url: str, events: Iterable[str], tiers: Iterable[str] | None, fmt: str,
           created_by: str, enabled: bool = True) -> tuple[dict[str, Any], str]:
    """A new subscription and its signing secret (returned here only, never again)."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    with db.begin() as conn:
        sub_id = conn.execute(
            sa.insert(webhook_subscription).values(
                url=url, events=sorted(set(events)), tiers=_tiers(tiers), format=fmt, secret=secret,
                enabled=enabled, created_at=now, created_by=created_by, updated_at=now)
            .returning(webhook_subscription.c.id)
        ).scalar_one()
    return get(db, sub_id), secret


def _tiers(tiers: Iterable[str] | None) -> list[str]:
    chosen = set(tiers or TIERS)
    return [t for t in TIERS if t in chosen]


def get(db: sa.Engine, sub_id: int) -> dict[str, Any]:
    with db.connect() as conn:
        row = conn.execute(sa.select(webhook_subscription).where(webhook_subscription.c.id == sub_id)).first()
    if row is None:
        raise NotFound(f"no webhook subscription {sub_id}", details={"id": sub_id})
    return _public(row)


def list_all(db: sa.Engine) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(sa.select(webhook_subscription).order_by(webhook_subscription.c.id)).all()
    return [_public(r) for r in rows]


def update(db: sa.Engine, sub_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply `changes` (url, events, tiers, format, enabled); enabling clears the disabled reason."""
    values: dict[str, Any] = {"updated_at": _now()}
    for key in ("url", "enabled"):
        if changes.get(key) is not None:
            values[key] = changes[key]
    if changes.get("events") is not None:
        values["events"] = sorted(set(changes["events"]))
    if changes.get("tiers") is not None:
        values["tiers"] = _tiers(changes["tiers"])
    if changes.get("format") is not None:
        values["format"] = changes["format"]
    if changes.get("enabled") is True:
        values["disabled_reason"] = None
    with db.begin() as conn:
        n = conn.execute(sa.update(webhook_subscription).where(webhook_subscription.c.id == sub_id)
                         .values(**values)).rowcount
    if n == 0:
        raise NotFound(f"no webhook subscription {sub_id}", details={"id": sub_id})
    return get(db, sub_id)


def delete(db: sa.Engine, sub_id: int) -> None:
    """Remove the subscription and its deliveries (sent or not)."""
    with db.begin() as conn:
        conn.execute(sa.delete(webhook_delivery).where(webhook_delivery.c.subscription_id == sub_id))
        n = conn.execute(sa.delete(webhook_subscription).where(webhook_subscription.c.id == sub_id)).rowcount
    if n == 0:
        raise NotFound(f"no webhook subscription {sub_id}", details={"id": sub_id})


def disable(conn: sa.Connection, sub_id: int, reason: str) -> None:
    conn.execute(sa.update(webhook_subscription).where(webhook_subscription.c.id == sub_id)
                 .values(enabled=False, disabled_reason=reason[:500], updated_at=_now()))


def wants(db: sa.Engine, kinds: Iterable[str]) -> bool:
    """Whether an enabled subscription wants any of `kinds` (the refresh skips computing tier moves
    nobody asked for)."""
    kinds = set(kinds)
    with db.connect() as conn:
        rows = conn.execute(sa.select(webhook_subscription.c.events)
                            .where(webhook_subscription.c.enabled.is_(True))).scalars()
        return any(kinds & set(events) for events in rows)


# -- the outbox -------------------------------------------------------------------------------

def _wanted_by(sub: Any, kind: str, payload: dict[str, Any]) -> bool:
    if kind not in sub.events:
        return False
    if kind in TIER_EVENTS:
        return bool(filter_products(payload.get("products", []), sub.tiers))
    return True


def filter_products(products: list[dict[str, Any]], tiers: Iterable[str]) -> list[dict[str, Any]]:
    """The products of a tier event that moved in or out of one of `tiers` (other tiers dropped)."""
    chosen = set(tiers)
    out = []
    for product in products:
        kept = [t for t in product["tiers"] if t in chosen]
        if kept:
            out.append({**product, "tiers": kept})
    return out


def enqueue(conn: sa.Connection, kind: str, key: str, payload: dict[str, Any], *,
            subscription_id: int | None = None, now: datetime | None = None) -> str | None:
    """Write one event and a delivery for each enabled subscription that wants it (or only for
    `subscription_id`), in the caller's transaction. A second call with the same `key` writes
    nothing. Returns the event id, or None when the key was already there."""
    if conn.execute(sa.select(webhook_event.c.id).where(webhook_event.c.idempotency_key == key)).first():
        return None
    now = now or _now()
    event_id = f"evt_{uuid.uuid4().hex}"
    conn.execute(sa.insert(webhook_event).values(id=event_id, kind=kind, idempotency_key=key, payload=payload,
                                                 created_at=now))
    subs = sa.select(webhook_subscription).where(webhook_subscription.c.enabled.is_(True))
    if subscription_id is not None:
        subs = sa.select(webhook_subscription).where(webhook_subscription.c.id == subscription_id)
    rows = [{"event_id": event_id, "subscription_id": sub.id, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now}
            for sub in conn.execute(subs) if subscription_id is not None or _wanted_by(sub, kind, payload)]
    if rows:
        conn.execute(sa.insert(webhook_delivery), rows)
    return event_id


MAX_PRODUCTS = 1000
"""Products listed in one tier event; `total` counts them all."""


def enqueue_tier_moves(conn: sa.Connection, run_id: str, as_of: date, moves: list[dict[str, Any]] | None,
                       public_url: str | None) -> list[str]:
    """The refresh's `tier.entered` / `tier.left` events (one each, when a product moved that way).

    `moves` rows: artifact_id, product_name, entered, left (lists of tiers); see
    `refresh.history.moves`. None or empty: nothing to send."""
    written = []
    for kind, field in ((TIER_ENTERED, "entered"), (TIER_LEFT, "left")):
        products = [{"artifact_id": m["artifact_id"], "product_name": m.get("product_name") or m["artifact_id"],
                     "tiers": list(m[field]), "url": product_link(public_url, m["artifact_id"])}
                    for m in moves or [] if m[field]]
        if not products:
            continue
        payload = {"run_id": run_id, "as_of": as_of.isoformat(), "total": len(products),
                   "truncated": len(products) > MAX_PRODUCTS, "products": products[:MAX_PRODUCTS],
                   "dashboard_url": public_url.rstrip("/") + "/" if public_url else None}
        event_id = enqueue(conn, kind, f"{run_id}:{kind}", payload)
        if event_id:
            written.append(event_id)
    return written


def enqueue_run_failed(db: sa.Engine, record: dict[str, Any], public_url: str | None) -> str | None:
    """The `<kind>.failed` event of a failed run record, in its own transaction (None: no such
    event for this kind, or already written)."""
    kind = FAILED_KIND.get(record.get("kind", ""))
    if kind is None:
        return None
    payload = {key: record.get(key) for key in ("run_id", "kind", "trigger", "started_at", "finished_at", "error")}
    payload["dashboard_url"] = public_url.rstrip("/") + "/" if public_url else None
    with db.begin() as conn:
        return enqueue(conn, kind, f"{record['run_id']}:{kind}", payload)


def enqueue_test(db: sa.Engine, sub_id: int) -> tuple[str, int]:
    """A `webhook.test` event for one subscription; its event and delivery ids."""
    get(db, sub_id)
    now = _now()
    with db.begin() as conn:
        event_id = enqueue(conn, TEST_EVENT, f"test:{uuid.uuid4().hex}",
                           {"message": "A test event from perftiers: this subscription works."},
                           subscription_id=sub_id, now=now)
        delivery_id = conn.execute(sa.select(webhook_delivery.c.id).where(webhook_delivery.c.event_id == event_id)
                                   ).scalar_one()
    assert event_id is not None
    return event_id, delivery_id


# -- claiming and recording deliveries ----------------------------------------------------------

@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds until `lease_until`, with what it needs to send it."""

    id: int
    claim: str
    attempts: int
    created_at: datetime
    event_id: str
    kind: str
    payload: dict[str, Any]
    event_created_at: datetime
    subscription_id: int
    url: str
    format: str
    secret: str
    tiers: list[str]
    enabled: bool
    events: list[str]


def claim(db: sa.Engine, now: datetime, lease: timedelta) -> Claimed | None:
    """Take the next due delivery, or None. Safe across threads, processes and replicas."""
    d = webhook_delivery
    due = sa.and_(d.c.status == "pending", d.c.next_attempt_at <= now,
                  sa.or_(d.c.lease_until.is_(None), d.c.lease_until < now))
    pick = (sa.select(d.c.id).where(due).order_by(d.c.next_attempt_at, d.c.id).limit(1)
            .with_for_update(skip_locked=True))
    token = uuid.uuid4().hex
    # Pick, then update that one row: `UPDATE ... WHERE id IN (SELECT ... LIMIT 1 FOR UPDATE SKIP
    # LOCKED)` leased every due row on PostgreSQL (tests/integration/test_webhook_claims.py). The
    # UPDATE checks `due` again: where rows are not locked (SQLite) a row another worker took in
    # between updates nothing, and the next due row is tried.
    for _ in range(CLAIM_TRIES):
        with db.begin() as conn:
            picked = conn.execute(pick).scalar_one_or_none()
            if picked is None:
                return None
            taken = conn.execute(sa.update(d).where(d.c.id == picked, due)
                                 .values(claim=token, lease_until=now + lease)).rowcount
            if taken:
                break
    else:
        return None
    with db.begin() as conn:
        s, e = webhook_subscription, webhook_event
        row = conn.execute(
            sa.select(d.c.id, d.c.attempts, d.c.created_at, e.c.id.label("event_id"), e.c.kind, e.c.payload,
                      e.c.created_at.label("event_created_at"), s.c.id.label("subscription_id"), s.c.url,
                      s.c.format, s.c.secret, s.c.tiers, s.c.enabled, s.c.events)
            .join(e, e.c.id == d.c.event_id).join(s, s.c.id == d.c.subscription_id)
            .where(d.c.claim == token)
        ).first()
    if row is None:
        return None
    return Claimed(row.id, token, row.attempts, _utc(row.created_at), row.event_id, row.kind, dict(row.payload),
                   _utc(row.event_created_at), row.subscription_id, row.url, row.format, row.secret,
                   list(row.tiers), bool(row.enabled), list(row.events))


def finish(db: sa.Engine, item: Claimed, *, status: str, now: datetime, attempted: bool = True,
           status_code: int | None = None, error: str | None = None, next_attempt_at: datetime | None = None,
           disable_reason: str | None = None) -> bool:
    """Record an attempt's outcome; False when the claim was lost (another worker took the row
    after the lease ended: its outcome counts)."""
    d = webhook_delivery
    values: dict[str, Any] = {"status": status, "claim": None, "lease_until": None,
                              "last_error": error[:500] if error else None}
    if attempted:
        values.update(attempts=d.c.attempts + 1, last_attempt_at=now, last_status_code=status_code)
    if status == "delivered":
        values["delivered_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    with db.begin() as conn:
        n = conn.execute(sa.update(d).where(d.c.id == item.id, d.c.claim == item.claim).values(**values)).rowcount
        if n and disable_reason:
            disable(conn, item.subscription_id, disable_reason)
    return n == 1


def prune(db: sa.Engine, before: datetime) -> tuple[int, int]:
    """Delete finished deliveries (delivered, failed, cancelled) whose last activity is before `before`,
    then events older than `before` that no delivery refers to; (deliveries, events) deleted.
    A pending delivery, and so its event, is never deleted."""
    d, e = webhook_delivery, webhook_event
    last = sa.func.coalesce(d.c.delivered_at, d.c.last_attempt_at, d.c.created_at)
    with db.begin() as conn:
        gone = conn.execute(sa.delete(d).where(d.c.status != "pending", last < before)).rowcount
        orphans = conn.execute(sa.delete(e).where(
            e.c.created_at < before, ~sa.exists().where(d.c.event_id == e.c.id))).rowcount
    return gone, orphans


def deliveries(db: sa.Engine, sub_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The delivery log of one subscription, newest first."""
    get(db, sub_id)
    d, e = webhook_delivery, webhook_event
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(d, e.c.kind).join(e, e.c.id == d.c.event_id).where(d.c.subscription_id == sub_id)
            .order_by(d.c.id.desc()).limit(limit)
        ).all()
    return [{"id": r.id, "event_id": r.event_id, "event": r.kind, "status": r.status, "attempts": r.attempts,
             "last_status_code": r.last_status_code, "last_error": r.last_error, "created_at": _utc(r.created_at),
             "last_attempt_at": _utc(r.last_attempt_at),
             "next_attempt_at": _utc(r.next_attempt_at) if r.status == "pending" else None,
             "delivered_at": _utc(r.delivered_at)} for r in rows]
