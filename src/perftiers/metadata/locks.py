"""The pipeline lock: at most one sync or refresh at a time across processes and replicas.

A lease row in `job_lock`. Taking it is one atomic upsert that only succeeds when the row is absent
or its lease has expired; the holder renews the lease from a background thread, so a killed process
blocks the next run for at most one lease.

Fencing: a job that paused past its lease (a long GC or swap stall, a lost database connection)
may find that another run took the lock. So before each commit the job calls
`HeldLock.ensure_held()` (through `perftiers.fencing`): one UPDATE that renews the lease only if
this holder still has the row, so the commit that follows has a whole lease to finish in, and
anything else stops the job with `LostLock`. A renewal that finds the row taken marks the lock
lost at once.
"""

from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from perftiers.errors import AlreadyRunning, LostLock
from perftiers.metadata.db import job_lock

PIPELINE = "pipeline"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def try_acquire(engine: sa.Engine, name: str, holder: str, lease: timedelta) -> bool:
    now = _now()
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(job_lock).values(name=name, holder=holder, acquired_at=now, expires_at=now + lease)
    stmt = stmt.on_conflict_do_update(
        index_elements=[job_lock.c.name],
        set_={"holder": holder, "acquired_at": now, "expires_at": now + lease},
        where=job_lock.c.expires_at < now,
    )
    with engine.begin() as conn:
        conn.execute(stmt)
        row = conn.execute(sa.select(job_lock.c.holder).where(job_lock.c.name == name)).first()
    return row is not None and row.holder == holder


def renew(engine: sa.Engine, name: str, holder: str, lease: timedelta) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(job_lock)
            .where(job_lock.c.name == name, job_lock.c.holder == holder)
            .values(expires_at=_now() + lease)
        )
    return result.rowcount == 1


def release(engine: sa.Engine, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(job_lock).where(job_lock.c.name == name, job_lock.c.holder == holder))


def current_holder(engine: sa.Engine, name: str = PIPELINE) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(job_lock.c.holder, job_lock.c.expires_at).where(job_lock.c.name == name)
        ).first()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
    return row.holder if expires >= _now() else None


class HeldLock:
    """A held lease, renewed every third of its length until `release()` or until it is lost."""

    def __init__(self, engine: sa.Engine, name: str, holder: str, lease: timedelta):
        self.engine, self.name, self.holder, self.lease = engine, name, holder, lease
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lock-{name}", daemon=True)
        self._thread.start()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            try:
                held = renew(self.engine, self.name, self.holder, self.lease)
            except Exception:  # a transient DB error must not kill the job; the next renewal retries
                continue
            if not held:  # another holder has the row: it never comes back
                self._lost.set()
                return

    def ensure_held(self) -> None:
        """The fencing check before a commit: renew the lease if this holder still has it, else
        raise `LostLock` (terminal: the job must stop without writing)."""
        if not self._lost.is_set() and renew(self.engine, self.name, self.holder, self.lease):
            return
        self._lost.set()
        raise LostLock("Lost the pipeline lock; another run took over; nothing more was written.",
                       details={"lock": self.name, "holder": self.holder})

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        release(self.engine, self.name, self.holder)


def acquire(engine: sa.Engine, name: str = PIPELINE, *, lease_seconds: int, holder: str | None = None) -> HeldLock:
    holder = holder or f"{uuid.uuid4().hex[:12]}"
    lease = timedelta(seconds=lease_seconds)
    if not try_acquire(engine, name, holder, lease):
        raise AlreadyRunning(
            "A sync or refresh is already running; try again when it has finished.",
            details={"lock": name},
        )
    return HeldLock(engine, name, holder, lease)


@contextmanager
def held(engine: sa.Engine, name: str = PIPELINE, *, lease_seconds: int) -> Iterator[HeldLock]:
    lock = acquire(engine, name, lease_seconds=lease_seconds)
    try:
        yield lock
    finally:
        lock.release()
