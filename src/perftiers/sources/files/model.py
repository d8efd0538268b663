"""The files source's shared types: the tunables, the two tables (known columns, their kinds), a
file found, a raw batch read from it, and the problems kept while the passes run.

Every other module of the package imports from here; this module imports none of them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa

from perftiers.lakehouse import schemas
from perftiers.sources.base import RowProblem

# Tunables. The readers look the block sizes up here at call time, so setting e.g.
# `perftiers.sources.files.model.CSV_BLOCK_SIZE` takes effect (tests shrink them);
# MAX_PROBLEMS and DEFAULT_MEMORY_BUDGET are bound as argument defaults.
MAX_PROBLEMS = 100
DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024
CSV_BLOCK_SIZE = 16 << 20
JSON_BLOCK_SIZE = 8 << 20
JSON_LINES_CHUNK = 1 << 16
PARQUET_BATCH_ROWS = 1 << 18
MAX_CSV_COLUMNS = 10_000
"""A CSV header with more columns is refused before parsing (10^6 columns took 9 GB to read)."""
MAX_JSON_DEPTH = 64
"""JSON Lines nested deeper go to the line-by-line reader (pyarrow's crashes on ~30,000 levels)."""
MAX_LINE_BYTES = 16 << 20
"""A JSON Lines line longer than this is a bad row, skipped without being held in memory."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # id | text | tags | bool | ts | int | money | currency
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Table:
    name: str
    schema: pa.Schema
    columns: tuple[Column, ...]
    key: str

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


PRODUCTS = Table(
    "products",
    schemas.PRODUCTS,
    (
        Column("artifact_id", "id", required=True),
        Column("product_name", "text"),
        Column("product_type", "text"),
        Column("vendor", "text"),
        Column("tags", "tags"),
        Column("is_active", "bool", default=True),
        Column("launched_at", "ts"),
    ),
    key="artifact_id",
)

ORDER_LINES = Table(
    "order_lines",
    schemas.ORDER_LINES,
    (
        Column("order_id", "id", required=True),
        Column("line_id", "id", required=True),
        Column("ordered_at", "ts", required=True),
        Column("artifact_id", "id", required=True),
        Column("quantity", "int", required=True),
        Column("unit_price", "money", required=True),
        Column("discount", "money", default=Decimal(0)),
        Column("refunded_quantity", "int", default=0),
        Column("cancelled", "bool", default=False),
        Column("currency", "currency"),
    ),
    key="line_id",
)


@dataclass
class RawBatch:
    """Known columns of some rows of a file, as read (any Arrow type; None: column absent)."""

    columns: dict[str, pa.Array | None]
    num_rows: int
    first_row: int  # index of the first row among the file's data rows
    column_problems: dict[str, dict[int, str]] = field(default_factory=dict)  # column -> row -> reason


@dataclass
class DataFile:
    path: str  # filesystem path
    name: str  # shown in problems: relative to the source folder
    fmt: str  # csv | parquet | jsonl
    compression: str | None
    size: int
    mtime: Any
    index: int = 0
    table_rank: int = 0
    ncols: int = 0  # CSV: columns in the header
    row_lines: list[int] | None = None  # JSON read line by line: physical line of each data row

    @property
    def unit(self) -> str:
        return "row" if self.fmt == "parquet" else "line"


@dataclass(frozen=True)
class FileProblem(RowProblem):
    """A `RowProblem` that knows how its position is counted.

    unit "line": a physical line (CSV, JSON Lines); "row": a Parquet row counted from 1;
    "file": the whole file (line is 0).
    """

    unit: str = "line"

    def __str__(self) -> str:
        if self.unit == "row":
            return f"{self.file} row {self.line}: {self.reason}"
        if self.unit == "file":
            return f"{self.file}: {self.reason}"
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class Pending:
    file: "DataFile"
    reason: str
    line: int | None = None  # known physical line (or Parquet row number, or 0 for the file)
    row: int | None = None  # data row index in the file, resolved to a line at the end
    badrow: int | None = None  # set for a CSV record pyarrow skipped (wrong field count); located later


class Problems:
    def __init__(self, limit: int = MAX_PROBLEMS):
        self.lock = threading.Lock()  # the CSV reader reports bad rows from its threads
        self.limit = limit
        self.kept: list[Pending] = []
        self.total = 0

    @property
    def room(self) -> int:
        return self.limit - len(self.kept)

    def add(self, pending: Pending) -> None:
        with self.lock:
            self.total += 1
            if len(self.kept) < self.limit:
                self.kept.append(pending)

    def count(self, n: int) -> None:
        """Count problems that are not kept."""
        self.total += n
