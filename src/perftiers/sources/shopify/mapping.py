"""Shopify records -> canonical rows; shared by the Admin API source and the CSV export source.

Decisions (docs/shopify.md explains them to users):

* `artifact_id` is the product handle, so the CSV exports and the API name products alike.
* `is_active`: status ACTIVE or UNLISTED (still for sale through a direct link) is active;
  DRAFT and ARCHIVED are not.
* Amounts: exact decimals, stored with 4 decimal places (`money`, rounded half to even); 10^14 or
  more does not fit the stored type and is refused (`check_money`).
* `discount`: the line's discount pro-rated to the units kept (`quantity - refunded_quantity`): a
  refunded unit takes its share of the discount with it, so a fully refunded line nets 0 instead
  of minus its discount.
* A line item that maps to no product (a deleted product, a custom item, an unknown SKU) is not
  written: it is counted (`unmapped_order_lines`, `unmapped_units`), the first examples are kept
  (`unmapped_examples`) and a warning is logged, so nothing disappears silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa

from perftiers.lakehouse import schemas

log = logging.getLogger("perftiers.sources.shopify")

STATUSES = ("ACTIVE", "DRAFT", "ARCHIVED", "UNLISTED")
ACTIVE_STATUSES = frozenset({"ACTIVE", "UNLISTED"})
CENT = Decimal("0.0001")
MAX_MONEY = Decimal(10) ** 14
MAX_EXAMPLES = 10


def is_active_status(status: str) -> bool:
    return status.upper() in ACTIVE_STATUSES


def money(value: Decimal) -> Decimal:
    """Rounded to the 4 places of the canonical MONEY type."""
    return value.quantize(CENT)


def check_money(value: Decimal, text: str) -> None:
    """ValueError when `value` does not fit MONEY, decimal(18, 4): 14 digits before the point."""
    if not value.is_finite() or abs(value) >= MAX_MONEY:
        raise ValueError(f"{text!r} is too big (amounts are stored with 4 decimal places and at most 14 digits "
                         "before the decimal point)")


def kept_discount(discount: Decimal, quantity: int, refunded_quantity: int) -> Decimal:
    """The share of a line's discount that belongs to the units not refunded."""
    if quantity <= 0:
        return Decimal(0).quantize(CENT)
    return money(discount * (quantity - refunded_quantity) / quantity)


@dataclass
class Unmapped:
    """Line items that map to no product: counted, with the first few shown."""

    lines: int = 0
    units: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, example: str, net_units: int) -> None:
        self.lines += 1
        self.units += net_units
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    def report(self, counts: dict[str, Any], source: str) -> None:
        """Put the counts (and examples) into `counts` and warn when any line was left out."""
        counts["unmapped_order_lines"] = self.lines
        counts["unmapped_units"] = self.units
        if self.lines:
            counts["unmapped_examples"] = list(self.examples)
            log.warning(
                "%s: %d order line(s) (%d net units) map to no product and were not written; e.g. %s",
                source, self.lines, self.units, "; ".join(self.examples[:3]),
            )


class LineBatches:
    """Collects canonical order-line dicts into `schemas.ORDER_LINES` record batches."""

    def __init__(self, size: int = 50_000):
        self.size = size
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> pa.RecordBatch | None:
        self.rows.append(row)
        return self.flush() if len(self.rows) >= self.size else None

    def flush(self) -> pa.RecordBatch | None:
        if not self.rows:
            return None
        batch = pa.RecordBatch.from_pylist(self.rows, schema=schemas.ORDER_LINES)
        self.rows = []
        return batch


def products_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schemas.PRODUCTS)
