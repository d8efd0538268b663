"""The days a sync changed, so that a refresh recomputes only those rows of `measurement.daily_sales`.

A sync records the store-local days of the order lines it adds or replaces (old and new versions)
*before* its Iceberg commit: a crash in between leaves records of days that did not change, which
costs only a recomputation. A refresh reads every record up to the largest id it saw and deletes
those once its `mart_refresh` artifact is committed; a refresh that fails leaves them for the next.
Syncs and refreshes hold the pipeline lock, so no record is added while a refresh reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable

import sqlalchemy as sa

from perftiers.metadata.db import sales_day_change


@dataclass(frozen=True)
class Changes:
    days: frozenset[date]
    timezones: frozenset[str]
    """The store timezones the days were computed in (a day is only meaningful in its own)."""
    upto: int
    """The largest record id read (0: none)."""


def record(engine: sa.Engine, days: Iterable[date], tz: str) -> int:
    """Record `days` (store-local in `tz`) as changed; returns how many were recorded."""
    now = datetime.now(timezone.utc)
    rows = [{"day": d, "timezone": tz, "recorded_at": now} for d in sorted(set(days))]
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(sales_day_change), rows)
    return len(rows)


def pending(engine: sa.Engine) -> Changes:
    """The days recorded and not yet consumed."""
    t = sales_day_change
    with engine.connect() as conn:
        upto = conn.execute(sa.select(sa.func.max(t.c.id))).scalar() or 0
        rows = conn.execute(sa.select(t.c.day, t.c.timezone).distinct().where(t.c.id <= upto)).all()
    return Changes(frozenset(r.day for r in rows), frozenset(r.timezone for r in rows), upto)


def consume(engine: sa.Engine, upto: int) -> None:
    """Delete the records a committed refresh has taken into account."""
    with engine.begin() as conn:
        conn.execute(sa.delete(sales_day_change).where(sales_day_change.c.id <= upto))
