"""lakehouse.scan: DuckDB's read of an Iceberg table returns exactly PyIceberg's rows, or None."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg.expressions import EqualTo
from pyiceberg.types import StringType

from perftiers.lakehouse import catalog, scan
from perftiers.refresh.mart import LINE_COLUMNS
from perftiers.sources.demo import DemoSource

from tests import pipeline


@pytest.fixture
def synced(settings):
    pipeline.sync(settings, DemoSource(products=300, order_lines=20_000, seed=3, end_date=dt.date(2025, 6, 30)))
    yield settings
    pipeline.close(settings)


def _rows(con: duckdb.DuckDBPyConnection, relation: str, columns) -> pa.Table:
    cols = ", ".join(columns)
    return con.execute(f"SELECT {cols} FROM {relation} ORDER BY line_id").to_arrow_table()


def test_same_rows_as_pyiceberg(synced):
    table = catalog.load(synced, catalog.ORDER_LINES)
    columns = ("line_id", *LINE_COLUMNS)
    relation = scan.parquet_relation(table, columns)
    assert relation is not None and "read_parquet" in relation
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ours = _rows(con, relation, columns)
    con.register("theirs", table.scan(selected_fields=columns).to_arrow())
    theirs = _rows(con, "theirs", columns)
    assert ours.num_rows == theirs.num_rows == 20_000
    assert ours.equals(theirs)


def test_columns_resolve_by_field_id_after_a_rename_and_an_added_column(synced):
    table = catalog.load(synced, catalog.ORDER_LINES)
    with table.update_schema() as update:
        update.rename_column("quantity", "qty")
        update.add_column("note", StringType())
    table = table.refresh()
    relation = scan.parquet_relation(table, ("line_id", "qty", "note"))
    assert relation is not None
    con = duckdb.connect()
    got = con.execute(f"SELECT COUNT(*), SUM(qty), COUNT(note) FROM {relation}").fetchone()
    expected = table.scan(selected_fields=("qty",)).to_arrow()
    assert got == (20_000, pc.sum(expected["qty"]).as_py(), 0)


def test_none_when_only_pyiceberg_can_read_it(synced, settings):
    empty = catalog.load(settings, catalog.PERFORMANCE)  # created on first use, no snapshot
    assert scan.parquet_relation(empty, ("artifact_id",)) is None
    products = catalog.load(settings, catalog.PRODUCTS)
    assert scan.parquet_relation(products, ("artifact_id", "tags")) is None  # a nested column
    lines = catalog.load(settings, catalog.ORDER_LINES)
    first = lines.scan(selected_fields=("line_id",)).to_arrow()["line_id"][0].as_py()
    lines.delete(EqualTo("line_id", first))  # copy-on-write or a delete file: either way still exact
    lines = lines.refresh()
    relation = scan.parquet_relation(lines, ("line_id",))
    n = lines.scan(selected_fields=("line_id",)).to_arrow().num_rows
    assert n == 19_999
    if relation is not None:
        assert duckdb.connect().execute(f"SELECT COUNT(*) FROM {relation}").fetchone()[0] == n
