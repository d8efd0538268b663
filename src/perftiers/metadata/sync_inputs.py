"""The input a source's last sync read (a fingerprint the source computes without reading the data)
and the raw snapshots that sync left, so the daily re-sync of unchanged files is skipped."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from perftiers.metadata.db import sync_input


def unchanged(engine: sa.Engine, source: str, fingerprint: str, snapshots: tuple[int | None, int | None]
              ) -> dict[str, Any] | None:
    """The counts of the last sync when it read the same input and the raw tables are still at the
    snapshots it left; None otherwise."""
    t = sync_input
    with engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.source == source)).first()
    if row is None or row.fingerprint != fingerprint:
        return None
    if (row.products_snapshot, row.order_lines_snapshot) != snapshots:
        return None
    return dict(row.counts)


def record(engine: sa.Engine, source: str, fingerprint: str | None, snapshots: tuple[int | None, int | None],
           counts: dict[str, Any]) -> None:
    t = sync_input
    with engine.begin() as conn:
        conn.execute(sa.delete(t).where(t.c.source == source))
        if fingerprint is not None:
            conn.execute(sa.insert(t).values(source=source, fingerprint=fingerprint, products_snapshot=snapshots[0],
                                             order_lines_snapshot=snapshots[1], counts=counts,
                                             recorded_at=datetime.now(timezone.utc)))
