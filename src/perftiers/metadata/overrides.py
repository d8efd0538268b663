"""Manual changes to `measurement.performance` rows, kept so they survive later refreshes.

An override either replaces some editable fields of a row (creating the row if the store has no
such product) or deletes the row. The refresh applies every override after computing metrics and
before classifying, so flags always follow the rules. Overrides last until removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from perftiers.lakehouse import schemas
from perftiers.metadata.db import performance_override

EDITABLE: dict[str, pa.DataType] = {
    f.name: f.type
    for f in schemas.PERFORMANCE
    if f.name
    in (
        "product_name",
        "product_type",
        "vendor",
        "tags",
        "is_active",
        "launched_at",
        "sales_first_7_days",
        "sales_first_14_days",
        "sales_last_30_days",
        "aggregate_measurement_value",
        "revenue_last_30_days",
        "lifetime_revenue",
    )
}
"""Fields a manual change may set; flags and tiers are always derived by the rules."""


@dataclass(frozen=True)
class Override:
    artifact_id: str
    fields: dict[str, Any]
    deleted: bool = False


def load_all(engine: sa.Engine) -> list[Override]:
    t = performance_override
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).order_by(t.c.artifact_id)).all()
    return [Override(r.artifact_id, dict(r.fields), bool(r.deleted)) for r in rows]


def get(conn: sa.Connection, artifact_id: str) -> Override | None:
    t = performance_override
    row = conn.execute(sa.select(t).where(t.c.artifact_id == artifact_id)).first()
    return Override(row.artifact_id, dict(row.fields), bool(row.deleted)) if row else None


def save(engine: sa.Engine, override: Override, updated_by: str) -> None:
    """Merge `override` into the stored one for the artifact (a delete replaces earlier fields)."""
    t = performance_override
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        existing = get(conn, override.artifact_id)
        if override.deleted:
            fields: dict[str, Any] = {}
        else:
            fields = {**(existing.fields if existing and not existing.deleted else {}), **override.fields}
        values = dict(fields=_jsonable(fields), deleted=override.deleted, updated_at=now, updated_by=updated_by)
        if existing is None:
            conn.execute(sa.insert(t).values(artifact_id=override.artifact_id, **values))
        else:
            conn.execute(sa.update(t).where(t.c.artifact_id == override.artifact_id).values(**values))


def remove(engine: sa.Engine, artifact_id: str) -> bool:
    with engine.begin() as conn:
        result = conn.execute(sa.delete(performance_override).where(performance_override.c.artifact_id == artifact_id))
    return result.rowcount > 0


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in fields.items():
        if hasattr(v, "isoformat"):
            v = v.isoformat()
        elif not isinstance(v, (str, int, float, bool, list, type(None))):
            v = str(v)
        out[k] = v
    return out
