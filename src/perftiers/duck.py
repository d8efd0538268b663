"""DuckDB connections for pipeline work: spill folder in the data folder, no network, no autoload."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa

from perftiers.errors import PerftiersError
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
        con.execute("SET temp_directory = ?", [str(spill_dir(settings))])
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # its bar went to stdout, before `--output json` (rich shows ours)
    return con


def spill_dir(settings: Settings) -> Path:
    """Where DuckDB spills: always a local folder, whatever the warehouse is (s3:// included).

    `tmp/duckdb` in the data folder, or the system temp folder when the data folder cannot be
    written (a read-only container image with the warehouse in object storage).
    """
    for base in (settings.home.resolve() / "tmp", Path(tempfile.gettempdir()) / f"perftiers-{os.getuid()}"):
        spill = base / "duckdb"
        try:
            spill.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(spill, os.W_OK):
            return spill
    # The server's disk, not the client's request: a 500 that alerts whoever watches the logs.
    raise PerftiersError(f"no writable folder for DuckDB to spill to: make {settings.home.resolve()} writable")


def ddl(schema: pa.Schema) -> str:
    """Column definitions for CREATE TABLE matching an Arrow schema."""
    return ", ".join(f'"{f.name}" {_TYPES[f.type]}' for f in schema)
