"""The two tables as the files source reads them: known columns, their kinds, and raw batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa

from perftiers.lakehouse import schemas


@dataclass(frozen=True)
class _Col:
    name: str
    kind: str  # id | text | tags | bool | ts | int | money | currency
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class _Table:
    name: str
    schema: pa.Schema
    columns: tuple[_Col, ...]
    key: str

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


_PRODUCTS = _Table(
    "products",
    schemas.PRODUCTS,
    (
        _Col("artifact_id", "id", required=True),
        _Col("product_name", "text"),
        _Col("product_type", "text"),
        _Col("vendor", "text"),
        _Col("tags", "tags"),
        _Col("is_active", "bool", default=True),
        _Col("launched_at", "ts"),
    ),
    key="artifact_id",
)

_ORDER_LINES = _Table(
    "order_lines",
    schemas.ORDER_LINES,
    (
        _Col("order_id", "id", required=True),
        _Col("line_id", "id", required=True),
        _Col("ordered_at", "ts", required=True),
        _Col("artifact_id", "id", required=True),
        _Col("quantity", "int", required=True),
        _Col("unit_price", "money", required=True),
        _Col("discount", "money", default=Decimal(0)),
        _Col("refunded_quantity", "int", default=0),
        _Col("cancelled", "bool", default=False),
        _Col("currency", "currency"),
    ),
    key="line_id",
)


@dataclass
class _RawBatch:
    """Known columns of some rows of a file, as read (any Arrow type; None: column absent)."""

    columns: dict[str, pa.Array | None]
    num_rows: int
    first_row: int  # index of the first row among the file's data rows
    column_problems: dict[str, dict[int, str]] = field(default_factory=dict)  # column -> row -> reason
