"""DuckDB connections for pipeline work: spill folder in the data folder, no network, no autoload."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from perftiers.settings import Settings

_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.decimal128(18, 4): "DECIMAL(18, 4)",
    pa.list_(pa.string()): "VARCHAR[]",
}


def connect(settings: Settings | None = None, *, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    config: dict[str, str] = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    con = duckdb.connect(":memory:", config=config)
    if settings is not None:
        spill = settings.home.resolve() / "tmp" / "duckdb"
        spill.mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = ?", [str(spill)])
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET TimeZone = 'UTC'")
    return con


def ddl(schema: pa.Schema) -> str:
    """Column definitions for CREATE TABLE matching an Arrow schema."""
    return ", ".join(f'"{f.name}" {_TYPES[f.type]}' for f in schema)
