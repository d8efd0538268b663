"""Webhook alerts end to end against a real HTTP receiver on 127.0.0.1: the outbox written with the
run, signatures, retries driven by `now`, 410, Slack's message shape, and refused targets."""

from __future__ import annotations

import json
import re
import socket
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from perftiers.errors import BadRequest
from perftiers.metadata import webhooks
from perftiers.metadata.db import engine_for, webhook_delivery, webhook_event
from perftiers.pipeline import alerts
from perftiers.pipeline import webhook_targets as targets
from perftiers.pipeline.runs import alert_failed, run_job
from perftiers.rules import FLAG_OF_TIER
from perftiers.settings import load_settings
from tests.pipeline import close, performance, refresh, sync
from tests.test_history import SPEC_V1, START, add_spec, store
from tests.webhook_receiver import Receiver

DOCS = Path(__file__).resolve().parents[1] / "docs" / "webhooks.md"


def docs_verify():
    """The `verify` function of docs/webhooks.md, so the documented snippet is the one tested."""
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    scope: dict = {}
    exec(code, scope)  # noqa: S102 (our own documentation)
    return scope["verify"]


@pytest.fixture
def local(settings):
    """Settings that allow the 127.0.0.1 receiver, with a short timeout."""
    s = load_settings(home=settings.home, webhooks_allow_private_targets=True, webhooks_timeout_seconds=5,
                      public_url="https://perftiers.example.com/")
    yield s
    close(s)


def db(settings):
    return engine_for(settings.resolved_database_url)


def subscribe(settings, url, events=webhooks.EVENTS, tiers=None, fmt="json"):
    targets.check(url, allow_private=settings.webhooks_allow_private_targets)
    return webhooks.create(db(settings), url=url, events=events, tiers=tiers, fmt=fmt, created_by="test")


def fail_a_sync(settings) -> dict:
    def job(ctx):
        raise RuntimeError("the source is unreachable")

    with pytest.raises(RuntimeError):
        run_job(settings, "sync", "cli", job)
    return db(settings)


def log_of(settings, sub_id):
    return webhooks.deliveries(db(settings), sub_id)


def test_a_failed_run_is_delivered_once_signed_and_verifiable(local):
    verify = docs_verify()
    with Receiver() as receiver:
        sub, secret = subscribe(local, receiver.url)
        fail_a_sync(local)
        assert alerts.deliver_due(local).delivered == 1
        assert alerts.deliver_due(local).delivered == 0  # nothing twice
        (request,) = receiver.requests
    body = request.json()
    assert body["type"] == "sync.failed" and "the source is unreachable" in body["data"]["error"]
    assert request.headers["X-Perftiers-Event"] == "sync.failed"
    assert request.headers["Idempotency-Key"] == request.headers["X-Perftiers-Event-Id"] == body["id"]
    signature = request.headers["X-Perftiers-Signature"]
    assert verify(secret, signature, request.body)
    assert not verify(secret, signature, request.body.replace(b"unreachable", b"reachable"))  # tampered
    assert not verify("whsec_other", signature, request.body)
    sent_at = int(signature.split(",")[0][2:])
    assert not verify(secret, signature, request.body, now=sent_at + 301)  # a replay, later
    (entry,) = log_of(local, sub["id"])
    assert entry["status"] == "delivered" and entry["attempts"] == 1 and entry["last_status_code"] == 200


def test_the_failure_event_is_written_once_per_run(local):
    with Receiver() as receiver:
        subscribe(local, receiver.url)
        engine = fail_a_sync(local)
        with engine.connect() as conn:
            (event,) = conn.execute(sa.select(webhook_event)).all()
        alert_failed(local, {"run_id": event.payload["run_id"], "kind": "sync", "status": "failed"})  # again
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(webhook_event)).scalar() == 1
            assert conn.execute(sa.select(sa.func.count()).select_from(webhook_delivery)).scalar() == 1


def test_receiver_down_then_up_is_delivered_once_after_retries(local):
    down = socket.socket()  # bound, not listening: connections are refused, and no other process takes the port
    down.bind(("127.0.0.1", 0))
    port = down.getsockname()[1]
    sub, _ = subscribe(local, f"http://127.0.0.1:{port}/hook")
    fail_a_sync(local)
    t0 = datetime.now(timezone.utc)
    assert alerts.deliver_due(local, now=t0).retrying == 1  # nothing listens: connection refused
    (entry,) = log_of(local, sub["id"])
    assert entry["status"] == "pending" and entry["attempts"] == 1 and entry["last_error"]
    assert entry["next_attempt_at"] == t0 + timedelta(seconds=30)
    assert alerts.deliver_due(local, now=t0 + timedelta(seconds=29)).ids == []  # not due yet
    down.close()
    with Receiver(statuses=[503, 200], port=port) as receiver:
        assert alerts.deliver_due(local, now=t0 + timedelta(seconds=30)).retrying == 1  # up, but 503
        (entry,) = log_of(local, sub["id"])
        assert entry["last_status_code"] == 503 and "HTTP 503" in entry["last_error"]
        assert entry["next_attempt_at"] == t0 + timedelta(seconds=30 + 60)  # backoff doubles
        assert alerts.deliver_due(local, now=t0 + timedelta(seconds=90)).delivered == 1
        assert alerts.deliver_due(local, now=t0 + timedelta(hours=2)).ids == []
        assert len(receiver.requests) == 2
        assert len({r.headers["Idempotency-Key"] for r in receiver.requests}) == 1
    (entry,) = log_of(local, sub["id"])
    assert entry["status"] == "delivered" and entry["attempts"] == 3


def test_retries_stop_after_24_hours(local):
    with Receiver(statuses=[500]) as receiver:
        sub, _ = subscribe(local, receiver.url)
        fail_a_sync(local)
        created = log_of(local, sub["id"])[0]["created_at"]
        now = created
        while True:
            summary = alerts.deliver_due(local, now=now)
            if summary.failed:
                break
            assert summary.retrying == 1
            (entry,) = log_of(local, sub["id"])
            assert entry["next_attempt_at"] - now <= timedelta(hours=1)
            now = entry["next_attempt_at"]
        (entry,) = log_of(local, sub["id"])
        assert entry["status"] == "failed" and entry["last_error"].startswith("gave up after")
        assert now - created == timedelta(hours=24)  # the last attempt is at the 24 h mark
        assert len(receiver.requests) == entry["attempts"] < 40


def test_410_disables_the_subscription(local):
    with Receiver(statuses=[410]) as receiver:
        sub, _ = subscribe(local, receiver.url)
        fail_a_sync(local)
        fail_a_sync(local)
        summary = alerts.deliver_due(local)
        assert summary.failed == 1 and summary.cancelled == 1  # the second one is not sent
        assert len(receiver.requests) == 1
        after = webhooks.get(db(local), sub["id"])
        assert after["enabled"] is False and "410" in after["disabled_reason"]
        fail_a_sync(local)  # new events go nowhere while it is disabled
        assert alerts.deliver_due(local).ids == []
        assert len(receiver.requests) == 1


def test_loopback_targets_are_refused_unless_allowed(settings, local):
    for url in ("http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]/x", "http://169.254.169.254/latest",
                "http://[fd00:ec2::254]/", "http://10.1.2.3/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
                "http://100.100.100.200/"):
        with pytest.raises(targets.TargetRefused):
            targets.check(url, allow_private=False)
    assert targets.check("http://127.0.0.1:9/x", allow_private=True).address == "127.0.0.1"
    for url in ("ftp://example.com/x", "file:///etc/passwd", "https://user:pw@example.com/", "not a url"):
        with pytest.raises(BadRequest):
            targets.check(url, allow_private=True)
    public = targets.check("https://hooks.example.com/x", allow_private=False, resolver=lambda h, p: ["93.184.216.34"])
    assert public.pinned()[0].host == "93.184.216.34" and public.pinned()[1] == {"Host": "hooks.example.com"}
    with pytest.raises(targets.TargetRefused):  # one private answer among public ones is enough
        targets.check("https://x.example.com/", allow_private=False, resolver=lambda h, p: ["93.184.216.34", "10.0.0.1"])


def test_a_name_that_rebinds_to_loopback_at_delivery_is_not_sent(settings):
    with Receiver() as receiver:
        url = f"http://rebind.example.com:{receiver.port}/hook"
        targets.check(url, allow_private=False, resolver=lambda h, p: ["93.184.216.34"])  # passes when saved
        sub, _ = webhooks.create(db(settings), url=url, events=webhooks.EVENTS, tiers=None, fmt="json",
                                 created_by="test")
        fail_a_sync(settings)
        summary = alerts.deliver_due(settings, resolver=lambda h, p: ["127.0.0.1"])
        assert summary.retrying == 1 and receiver.requests == []
        (entry,) = log_of(settings, sub["id"])
        assert "loopback" in entry["last_error"] and entry["status"] == "pending"
    close(settings)


# -- tier moves from real refreshes --------------------------------------------------------------

def flag_sets(settings) -> dict[str, set[str]]:
    return {pid: {t for t, f in FLAG_OF_TIER.items() if row[f]} for pid, row in performance(settings).items()}


def events(settings) -> list:
    with db(settings).connect() as conn:
        return conn.execute(sa.select(webhook_event).order_by(webhook_event.c.created_at)).all()


def test_a_refresh_writes_the_tier_moves_with_its_record(local):
    with Receiver() as json_receiver, Receiver() as slack_receiver:
        sub, _ = subscribe(local, json_receiver.url, events=webhooks.TIER_EVENTS)
        bananas, _ = subscribe(local, slack_receiver.url, events=[webhooks.TIER_ENTERED], tiers=["banana"],
                               fmt="slack")
        sync(local, store())
        add_spec(local, START - timedelta(days=30), **SPEC_V1)
        refresh(local, START + timedelta(days=10))
        assert events(local) == []  # the first refresh is the baseline
        seen = []
        for day in (18, 33, 47):
            before = flag_sets(local)
            refresh(local, START + timedelta(days=day))
            after = flag_sets(local)
            want = {"tier.entered": {p: sorted(after.get(p, set()) - before.get(p, set())) for p in after},
                    "tier.left": {p: sorted(before[p] - after.get(p, set())) for p in before}}
            new = [e for e in events(local) if e.id not in seen]
            seen += [e.id for e in new]
            got = {e.kind: {p["artifact_id"]: sorted(p["tiers"]) for p in e.payload["products"]} for e in new}
            for kind in want:
                assert got.get(kind, {}) == {p: t for p, t in want[kind].items() if t}, (day, kind)
            for e in new:
                assert e.idempotency_key == f"{e.payload['run_id']}:{e.kind}"
                assert all(p["url"] == f"https://perftiers.example.com/?search={p['artifact_id']}"
                           for p in e.payload["products"])
        assert seen, "the store must move some products between these days"
        n = len(events(local))
        refresh(local, START + timedelta(days=47))  # a rerun for the same day moves nothing again
        assert len(events(local)) == n
        alerts.deliver_due(local)
        assert len(json_receiver.requests) == len(seen)
        bodies = [r.json() for r in json_receiver.requests]
        assert {b["type"] for b in bodies} <= {"tier.entered", "tier.left"}
        entered_bananas = sum(1 for e in events(local) if e.kind == "tier.entered"
                              and any("banana" in p["tiers"] for p in e.payload["products"]))
        assert len(slack_receiver.requests) == entered_bananas  # only events with a banana that entered
        for r in slack_receiver.requests:  # only its tier is listed
            text = json.dumps(r.json())
            assert "*Bananas (" in text and "*Winners (" not in text and "*Top risers (" not in text
        assert webhooks.get(db(local), bananas["id"])["enabled"] and webhooks.get(db(local), sub["id"])["enabled"]


# -- Slack's incoming-webhook shape ------------------------------------------------------------

BLOCK_TYPES = {"header", "section", "context", "divider"}


def assert_slack_message(message: dict) -> None:
    """Slack's incoming-webhook payload: `text` (the notification fallback) and at most 50 Block Kit
    blocks; a header's text is plain_text of at most 150 characters, a section's mrkdwn of at most
    3,000, a context's elements are text objects."""
    assert set(message) == {"text", "blocks"} and isinstance(message["text"], str) and message["text"]
    assert 0 < len(message["blocks"]) <= 50
    for block in message["blocks"]:
        assert block["type"] in BLOCK_TYPES, block
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn" and 0 < len(block["text"]["text"]) <= 3000
        elif block["type"] == "context":
            assert all(e["type"] in ("mrkdwn", "plain_text") and e["text"] for e in block["elements"])


def test_slack_messages_list_the_moved_products_with_links(local):
    products = [{"artifact_id": f"p{i}", "product_name": f"Shirt <{i}> & co | ltd",
                 "tiers": ["banana"] if i % 2 else ["winner", "banana"], "url": f"https://x.example/?search=p{i}"}
                for i in range(300)]
    with Receiver() as receiver:
        sub, _ = subscribe(local, receiver.url, fmt="slack", tiers=["banana", "winner"])
        with db(local).begin() as conn:
            webhooks.enqueue_tier_moves(conn, "run-1", date(2025, 3, 2), [
                {"artifact_id": p["artifact_id"], "product_name": p["product_name"], "entered": p["tiers"],
                 "left": []} for p in products], "https://x.example")
        fail_a_sync(local)
        assert alerts.deliver_due(local).delivered == 2
        tiers_msg, failure_msg = (r.json() for r in receiver.requests)
        assert "X-Perftiers-Signature" not in receiver.requests[0].headers
    for message in (tiers_msg, failure_msg):
        assert_slack_message(message)
    assert tiers_msg["blocks"][0]["text"]["text"] == "300 products entered a tier"
    text = "\n".join(b["text"]["text"] for b in tiers_msg["blocks"] if b["type"] == "section")
    assert "<https://x.example/?search=p1|Shirt &lt;1&gt; &amp; co / ltd>" in text  # escaped, linked
    assert "*Bananas (300 entered)*" in text and "*Winners (150 entered)*" in text
    assert "… and 280 more" in text and "… and 130 more" in text
    assert failure_msg["blocks"][0]["text"]["text"] == "Sync failed"
    assert "the source is unreachable" in failure_msg["blocks"][1]["text"]["text"]
    assert webhooks.get(db(local), sub["id"])["format"] == "slack"


def test_finished_deliveries_and_their_events_are_pruned_after_the_retention(local):
    """Delivered and given-up deliveries older than `webhooks_retention_days` (30) go, with the events
    nothing refers to any more; pending and recent ones stay; the worker prunes at most hourly."""
    assert local.webhooks_retention_days == 30
    with Receiver(statuses=[200, 200]) as receiver:
        sub, _ = subscribe(local, receiver.url)
        fail_a_sync(local)
        t0 = datetime.now(timezone.utc)
        assert alerts.deliver_due(local, now=t0).delivered == 1  # old and delivered: pruned
        fail_a_sync(local)
        dead = webhooks.claim(db(local), datetime.now(timezone.utc), timedelta(minutes=1))
        assert webhooks.finish(db(local), dead, status="failed", now=t0, error="gave up")  # old and dead: pruned
        fail_a_sync(local)
        assert alerts.deliver_due(local, now=t0 + timedelta(days=25)).delivered == 1  # recent: kept
    fail_a_sync(local)  # pending: kept whatever its age
    before = {d["event_id"]: d["status"] for d in log_of(local, sub["id"])}
    assert sorted(before.values()) == ["delivered", "delivered", "failed", "pending"]

    deliverer = alerts.Deliverer(local)
    try:
        assert deliverer.prune(t0 + timedelta(days=31)) == (2, 2)
        assert deliverer.prune(t0 + timedelta(days=31, minutes=59)) is None  # not again within the hour
        assert deliverer.prune(t0 + timedelta(days=31, hours=1)) == (0, 0)
    finally:
        deliverer.close()
    after = {d["event_id"]: d["status"] for d in log_of(local, sub["id"])}
    assert sorted(after.values()) == ["delivered", "pending"]
    with db(local).connect() as conn:
        assert set(conn.execute(sa.select(webhook_event.c.id)).scalars()) == set(after)
