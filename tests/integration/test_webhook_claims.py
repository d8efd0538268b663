"""The webhook outbox claim (`metadata.webhooks.claim`, `FOR UPDATE SKIP LOCKED`) on the real
PostgreSQL: claimers on their own connections never take the same delivery, a claimer never waits
behind a row another one is claiming, and a delivery whose lease ran out is claimed again (the old
claim then records nothing)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from perftiers.metadata import webhooks
from perftiers.metadata.db import engine_for, webhook_delivery

pytestmark = pytest.mark.integration

LEASE = timedelta(minutes=5)


def _outbox(url: str, n: int) -> list[int]:
    """A subscription with `n` pending test deliveries; their ids."""
    db = engine_for(url)  # creates the schema
    sub, _secret = webhooks.create(db, url="https://hooks.example.com/x", events=["tier.entered"], tiers=None,
                                   fmt="json", created_by="test", enabled=True)
    return [webhooks.enqueue_test(db, sub["id"])[1] for _ in range(n)]


def _later() -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=1)


def test_two_claimers_on_two_connections_never_claim_the_same_delivery(pg_url):
    ids = _outbox(pg_url, 60)
    engines = [sa.create_engine(pg_url, pool_size=1, max_overflow=0) for _ in range(2)]
    start = threading.Barrier(2)
    claimed: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def claimer(i: int) -> None:
        try:
            start.wait()
            while (item := webhooks.claim(engines[i], _later(), LEASE)) is not None:
                claimed[i].append(item.id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        for e in engines:
            e.dispose()
    assert not errors, errors
    assert not set(claimed[0]) & set(claimed[1]), "a delivery was claimed twice"
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)  # and every one was claimed once
    with engine_for(pg_url).connect() as conn:
        tokens = conn.execute(sa.select(webhook_delivery.c.claim)).scalars().all()
    assert len(set(tokens)) == len(ids) and None not in tokens


def test_a_claimer_skips_a_row_another_transaction_holds_instead_of_waiting(pg_url):
    first, second = _outbox(pg_url, 2)
    holder = sa.create_engine(pg_url, pool_size=1, max_overflow=0)
    other = sa.create_engine(pg_url, pool_size=1, max_overflow=0, connect_args={"options": "-c lock_timeout=3000"})
    try:
        with holder.begin() as conn:  # a claimer in the middle of its transaction, holding the first row
            conn.execute(sa.select(webhook_delivery.c.id).where(webhook_delivery.c.id == first).with_for_update())
            item = webhooks.claim(other, _later(), LEASE)  # without SKIP LOCKED: waits, then lock_timeout
            assert item is not None and item.id == second
            assert webhooks.claim(other, _later(), LEASE) is None  # the held row is skipped, not waited for
        assert webhooks.claim(other, _later(), LEASE).id == first  # released: claimable
    finally:
        holder.dispose()
        other.dispose()


def test_a_delivery_whose_lease_ran_out_is_claimed_again(pg_url):
    (delivery,) = _outbox(pg_url, 1)
    db = engine_for(pg_url)
    t0 = _later()
    lease = timedelta(seconds=30)
    first = webhooks.claim(db, t0, lease)
    assert first is not None and first.id == delivery
    assert webhooks.claim(db, t0 + lease - timedelta(seconds=1), lease) is None  # still leased
    again = webhooks.claim(db, t0 + lease + timedelta(seconds=1), lease)  # the first worker died mid-send
    assert again is not None and again.id == delivery and again.claim != first.claim
    assert webhooks.finish(db, first, status="delivered", now=t0 + lease) is False  # its claim was lost
    assert webhooks.finish(db, again, status="delivered", now=t0 + lease + timedelta(seconds=2)) is True
    assert webhooks.claim(db, t0 + timedelta(days=1), lease) is None
