"""Classification thresholds: settings, preview, history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, create_model

from perftiers.rules import ClassificationSpec


def _strict_threshold(name: str) -> tuple[Any, Any]:
    info = ClassificationSpec.model_fields[name]
    return Annotated[int, Strict(), *info.metadata], Field(description=_THRESHOLD_DOCS[name])


_THRESHOLD_DOCS = {
    "top_riser_7_day_threshold": "Net units in the first 7 days from launch that make a top riser.",
    "top_riser_14_day_threshold": "Net units in the first 14 days from launch that make a top riser.",
    "winner_30_day_threshold": "Net units in the last 30 days that make a winner.",
    "banana_count": "How many products, lowest lifetime net units first, are bananas.",
}

ClassificationThresholds = create_model(
    "ClassificationThresholds",
    __config__=ConfigDict(extra="ignore"),
    **{name: _strict_threshold(name) for name in ClassificationSpec.model_fields},
)
"""The four thresholds, all required, non-negative JSON integers (bounds from `rules`)."""


class ClassificationSettings(BaseModel):
    top_riser_7_day_threshold: int
    top_riser_14_day_threshold: int
    winner_30_day_threshold: int
    banana_count: int
    version: int = Field(description="Version of these thresholds (the ETag is `\"v<version>\"`).")
    applied_version: int | None = Field(description="Version the current measurement.performance was classified with.")
    pending: bool = Field(description="True when `version` is newer than `applied_version` (waits for the next refresh).")
    created_at: datetime
    created_by: str


class TierCounts(BaseModel):
    total: int
    top_riser: int
    winner: int
    banana: int
    archive_candidate: int


class ClassificationPreview(BaseModel):
    thresholds: dict[str, int]
    counts: TierCounts = Field(description="Flags the proposed thresholds would give on the served metrics.")
    current: TierCounts = Field(description="Flags as served now.")
    applied_version: int | None


class RefreshApplied(BaseModel):
    run_id: str | None
    snapshot_id: int | None
    as_of: date | None
    refreshed_at: datetime


class ClassificationVersion(BaseModel):
    version: int
    top_riser_7_day_threshold: int
    top_riser_14_day_threshold: int
    winner_30_day_threshold: int
    banana_count: int
    created_at: datetime
    created_by: str
    in_force: bool = Field(description="The version the served table was classified with.")
    refreshes: list[RefreshApplied] = Field(description="Refreshes that applied this version, newest first.")


class ClassificationHistory(BaseModel):
    applied_version: int | None
    latest_version: int
    versions: list[ClassificationVersion]
