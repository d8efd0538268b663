"""Build small stores in the canonical schemas for tests, and a source that serves them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa

from perftiers.lakehouse import schemas
from perftiers.sources.base import StoreExtract


def product(artifact_id: str, *, name: str | None = None, product_type: str = "Tee", vendor: str = "Acme",
            tags: list[str] | None = None, is_active: bool = True, launched_at: datetime | None = None) -> dict:
    return dict(artifact_id=artifact_id, product_name=name or f"Product {artifact_id}", product_type=product_type,
                vendor=vendor, tags=tags or [], is_active=is_active, launched_at=launched_at)


def line(line_id: str, artifact_id: str, ordered_at: datetime, quantity: int = 1, *, order_id: str | None = None,
         unit_price: str = "10.00", discount: str = "0", refunded_quantity: int = 0, cancelled: bool = False,
         currency: str = "USD") -> dict:
    if ordered_at.tzinfo is None:
        ordered_at = ordered_at.replace(tzinfo=timezone.utc)
    return dict(order_id=order_id or f"o-{line_id}", line_id=line_id, ordered_at=ordered_at, artifact_id=artifact_id,
                quantity=quantity, unit_price=Decimal(unit_price), discount=Decimal(discount),
                refunded_quantity=refunded_quantity, cancelled=cancelled, currency=currency)


@dataclass
class MemorySource:
    products: list[dict[str, Any]]
    lines: list[dict[str, Any]] = field(default_factory=list)
    name: str = "memory"

    def extract(self) -> StoreExtract:
        prods = pa.Table.from_pylist(self.products, schema=schemas.PRODUCTS)
        lines = pa.Table.from_pylist(self.lines, schema=schemas.ORDER_LINES)
        return StoreExtract(products=prods, order_lines=lambda: iter(lines.to_batches(max_chunksize=1000)))
