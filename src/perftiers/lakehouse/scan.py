"""Reading an Iceberg table's current rows with DuckDB's own Parquet reader.

PyIceberg's Arrow reader (`scan().to_arrow_batch_reader()`) decodes the data files in Python-driven
batches and hands them to DuckDB over Arrow; DuckDB's `read_parquet` reads the same files on every
core and only the columns a query uses. On the 10M-line benchmark the refresh's scan of
`raw.order_lines` took most of its CPU time through PyIceberg (see docs/benchmarks.md).

`parquet_relation` returns a `read_parquet(...)` expression over exactly the data files of the
scan's snapshot, with columns resolved by Iceberg field id (a renamed column reads under its
current name, a column added later reads as NULL), so it returns the same rows as PyIceberg.
It returns None, and the caller falls back to PyIceberg, whenever that equivalence is not plain:
a delete file, a data file that is not Parquet or not on a local disk (DuckDB reads object storage
only through its httpfs extension), a nested column, or an empty table.
"""

from __future__ import annotations

from typing import Sequence

from pyiceberg.manifest import FileFormat
from pyiceberg.table import Table
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)


def _duck_type(t: IcebergType) -> str | None:
    if isinstance(t, DecimalType):
        return f"DECIMAL({t.precision}, {t.scale})"
    return {
        StringType: "VARCHAR",
        LongType: "BIGINT",
        IntegerType: "INTEGER",
        BooleanType: "BOOLEAN",
        DateType: "DATE",
        TimestamptzType: "TIMESTAMPTZ",
        TimestampType: "TIMESTAMP",
        DoubleType: "DOUBLE",
        FloatType: "FLOAT",
    }.get(type(t))


def _local_path(location: str) -> str | None:
    if location.startswith("file://"):
        return location[len("file://"):]
    if location.startswith("/"):
        return location
    return None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parquet_relation(table: Table, columns: Sequence[str], snapshot_id: int | None = None) -> str | None:
    """A DuckDB relation (SQL text) of `columns` of the table's rows at `snapshot_id` (default:
    current), or None when only PyIceberg can read them faithfully (see the module docstring)."""
    scan = table.scan(selected_fields=tuple(columns), snapshot_id=snapshot_id)
    files: list[str] = []
    for task in scan.plan_files():
        path = _local_path(task.file.file_path)
        if task.delete_files or task.file.file_format != FileFormat.PARQUET or path is None:
            return None
        files.append(path)
    if not files:
        return None
    projection = scan.projection()
    entries = []
    for name in columns:
        field = projection.find_field(name)
        duck_type = _duck_type(field.field_type)
        if duck_type is None:
            return None
        entries.append(f"{field.field_id}: {{name: {_literal(name)}, type: {_literal(duck_type)}, "
                       f"default_value: NULL}}")
    file_list = ", ".join(_literal(f) for f in files)
    return f"read_parquet([{file_list}], schema = MAP {{{', '.join(entries)}}})"
