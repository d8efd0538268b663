"""Manual overrides applied to a DuckDB table of performance rows (the refresh and manual edits).

The overrides themselves are stored by `perftiers.metadata.overrides`; this is the write-side
SQL that puts them into a table before it is classified.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa

from perftiers import rules
from perftiers.metadata.overrides import EDITABLE, Override

_DEFAULTS = {
    "is_active": "TRUE",
    "sales_first_7_days": "0",
    "sales_first_14_days": "0",
    "sales_last_30_days": "0",
    "aggregate_measurement_value": "0",
    "revenue_last_30_days": "0",
    "lifetime_revenue": "0",
}


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


_LAUNCH_DATE = rules.launch_date_sql("o.launched_at")
"""The launch day of a manual launched_at (a cleared one leaves no launch day)."""


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
