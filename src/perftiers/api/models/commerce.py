"""Commerce analytics answers."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PeriodKpis(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date | None = Field(alias="from")
    to: date | None
    revenue: float = Field(description="Net revenue: (quantity - refunded_quantity) * unit_price - discount.")
    order_count: int = Field(description="Distinct orders with a non-cancelled line in the period.")
    aov: float = Field(description="revenue / order_count; 0 without orders.")
    units: int = Field(description="Net units.")
    currency: str


class CommerceOverview(PeriodKpis):
    previous: PeriodKpis = Field(description="The same figures for the period of equal length just before.")


class TopProduct(BaseModel):
    rank: int
    artifact_id: str
    product_name: str | None
    revenue: float
    units: int
    order_count: int


class TopProducts(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    by: Literal["revenue", "units"]
    items: list[TopProduct]


class DailyFigure(BaseModel):
    day: date
    revenue: float
    units: int
    order_count: int


class DailyFigures(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    currency: str
    items: list[DailyFigure] = Field(description="Days with sales only; missing days had none.")
