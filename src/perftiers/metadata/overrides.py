"""Manual changes to `measurement.performance` rows, kept so they survive later refreshes.

An override either replaces some editable fields of a row (creating the row if the store has no
such product) or deletes the row. The refresh applies every override after computing metrics and
before classifying, so flags always follow the rules. Overrides last until removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import duckdb
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

_DEFAULTS = {
    "is_active": "TRUE",
    "sales_first_7_days": "0",
    "sales_first_14_days": "0",
    "sales_last_30_days": "0",
    "aggregate_measurement_value": "0",
    "revenue_last_30_days": "0",
    "lifetime_revenue": "0",
}


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


def apply(con: duckdb.DuckDBPyConnection, table: str, overrides: list[Override], tz: str = "UTC") -> None:
    """Apply overrides in place to the DuckDB `table` (performance columns, unclassified).

    `tz` is the store timezone: a manual `launched_at` gives the store-local `launch_date`.
    """
    if not overrides:
        return
    ids = [o.artifact_id for o in overrides]
    arrays: dict[str, pa.Array] = {"artifact_id": pa.array(ids, pa.string()),
                                   "deleted": pa.array([o.deleted for o in overrides])}
    for column, dtype in EDITABLE.items():
        arrays[f"set_{column}"] = pa.array([column in o.fields for o in overrides])
        raw = [o.fields.get(column) for o in overrides]
        if pa.types.is_timestamp(dtype):
            arrays[column] = pa.array([_parse_ts(v) for v in raw], dtype)
        elif pa.types.is_decimal(dtype):
            from decimal import Decimal

            arrays[column] = pa.array([None if v is None else Decimal(str(v)) for v in raw], dtype)
        else:
            arrays[column] = pa.array(raw, dtype)
    con.register("overrides_arrow", pa.table(arrays))
    try:
        con.execute(f"DELETE FROM {table} WHERE artifact_id IN (SELECT artifact_id FROM overrides_arrow WHERE deleted)")
        columns = [c for c in con.execute(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema.names]
        missing_cols = ", ".join(
            f"COALESCE(o.{c}, {_DEFAULTS.get(c, 'NULL')})" if c in EDITABLE else _new_row_value(c)
            for c in columns
        )
        _execute(
            con,
            f"INSERT INTO {table} SELECT {missing_cols} FROM overrides_arrow o "
            f"WHERE NOT o.deleted AND o.artifact_id NOT IN (SELECT artifact_id FROM {table})",
            tz,
        )
        sets = ", ".join(f"{c} = CASE WHEN o.set_{c} THEN o.{c} ELSE t.{c} END" for c in EDITABLE)
        sets += f", launch_date = CASE WHEN o.set_launched_at THEN {_LAUNCH_DATE} ELSE t.launch_date END"
        _execute(
            con,
            f"UPDATE {table} AS t SET {sets}, source = 'manual' FROM overrides_arrow o "
            "WHERE t.artifact_id = o.artifact_id AND NOT o.deleted",
            tz,
        )
    finally:
        con.unregister("overrides_arrow")


_LAUNCH_DATE = "CAST(timezone($tz, o.launched_at) AS DATE)"
"""The store-local day of a manual launched_at (DuckDB's own cast would give the UTC day)."""


def _execute(con: duckdb.DuckDBPyConnection, sql: str, tz: str) -> None:
    con.execute(sql, {"tz": tz} if "$tz" in sql else None)


def _new_row_value(column: str) -> str:
    return {
        "artifact_id": "o.artifact_id",
        "source": "'manual'",
        "launch_date": _LAUNCH_DATE,
    }.get(column, "NULL")


def _parse_ts(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
