"""Tier history: a product's timeline and daily series, changes since a day."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from perftiers.rules import TIERS

Tier = Literal[TIERS]  # type: ignore[valid-type]
Nominal = Literal[(*TIERS, "none")]  # type: ignore[valid-type]


class TierCounts(BaseModel):
    top_riser: int
    winner: int
    banana: int
    archive_candidate: int


class TierPeriod(BaseModel):
    valid_from: date = Field(description="First reference date of the period.")
    valid_to: date | None = Field(description="First reference date after the period; null while current.")
    is_top_riser: bool
    is_winner: bool
    is_banana: bool
    is_archive: bool
    nominal_classification: Nominal
    classifications: list[Tier]
    spec_version: int = Field(description="classification_spec version the state was computed with.")
    backfilled: bool = Field(description="The period began on a day computed by `perftiers history backfill` "
                                         "(with today's is_active).")


class DailySales(BaseModel):
    day: date = Field(description="Store-local day.")
    units: int = Field(description="Net units (cancelled lines count 0).")
    net_revenue: float
    orders: int = Field(description="Distinct non-cancelled orders.")


class ProductHistory(BaseModel):
    artifact_id: str
    from_: date = Field(alias="from")
    to: date
    periods: list[TierPeriod] = Field(description="Tier periods overlapping from..to, oldest first.")
    daily: list[DailySales] = Field(description="Every day of from..to (zeros on days without sales), "
                                                "from measurement.daily_sales.")

    model_config = {"populate_by_name": True}


class TierMove(BaseModel):
    tier: Tier
    entered: int
    left: int


class MovedProduct(BaseModel):
    artifact_id: str
    product_name: str | None = Field(description="Null for a removed product.")
    removed: bool = Field(description="Deleted from perftiers since then: it left every tier, its tier now is "
                                      "`none` and it has no product page (its history stays readable).")
    previous_nominal_classification: Nominal | None = Field(description="Tier then; null: no state then.")
    nominal_classification: Nominal = Field(description="Tier now (`none` for a removed product).")
    previous_classifications: list[Tier]
    classifications: list[Tier]
    entered: list[Tier]
    left: list[Tier]
    previous_spec_version: int | None
    spec_version: int


class TierChanges(BaseModel):
    since: date | None = Field(description="The day compared with; null when there was no earlier refresh.")
    as_of: date | None = Field(description="Reference date of the current state.")
    tiers: list[TierMove]
    items: list[MovedProduct]
    page: int
    pageSize: int
    total: int
    totalPages: int
