"""The export's file formats: performance rows (Arrow batches) as CSV or Parquet bytes, streamed.

CSV joins `tags` with commas (as the files source reads them) and defuses formula-like text cells;
Parquet keeps the table's schema. Each function yields a chunk per batch, so an export of any size
streams in bounded memory.
"""

from __future__ import annotations

import io
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from perftiers.lakehouse import schemas

CSV_SCHEMA = schemas.PERFORMANCE.set(schemas.PERFORMANCE.get_field_index("tags"), pa.field("tags", pa.string()))
"""Export columns in CSV: tags joined by commas, as the files source reads them."""

_FORMULA = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"


def _no_formulas(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Text cells a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) get a
    leading `'` (OWASP's advice against CSV injection); plain numbers such as `-3` are left alone."""
    for i, field in enumerate(batch.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = batch.column(i)
        risky = pc.and_(pc.match_substring_regex(column, _FORMULA),
                        pc.invert(pc.match_substring_regex(column, _NUMBER)))
        if pc.any(risky).as_py():
            batch = batch.set_column(i, field, pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column))
    return batch


def csv_chunks(batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    sink = io.BytesIO()
    writer = None
    for batch in batches:
        tags = pa.array([",".join(t) if t else "" for t in batch.column("tags").to_pylist()], pa.string())
        batch = _no_formulas(batch.set_column(batch.schema.get_field_index("tags"), "tags", tags))
        if writer is None:
            writer = pa_csv.CSVWriter(sink, batch.schema)
        writer.write_batch(batch)
        yield _drain(sink)
    if writer is None:  # no rows: still a header line
        writer = pa_csv.CSVWriter(sink, CSV_SCHEMA)
    writer.close()
    yield _drain(sink)


def parquet_chunks(batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    sink = io.BytesIO()
    writer = pq.ParquetWriter(sink, schemas.PERFORMANCE.remove_metadata(), compression="zstd")
    for batch in batches:
        writer.write_batch(batch.cast(schemas.PERFORMANCE.remove_metadata()))
        yield _drain(sink)
    writer.close()
    yield _drain(sink)


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data
