"""Classification thresholds: settings, preview, history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, create_model

from perftiers.rules import ClassificationSpec


def _strict_threshold(name: str) -> tuple[Any, Any]:
    info = ClassificationSpec.model_fields[name]
    return Annotated[int, Strict(), *info.metadata], Field(title=info.title, description=info.description)


ClassificationThresholds = create_model(
    "ClassificationThresholds",
    __config__=ConfigDict(extra="ignore"),
    **{name: _strict_threshold(name) for name in ClassificationSpec.model_fields},
)
"""The four thresholds, all required, non-negative JSON integers (bounds, labels and help from `rules`)."""


class ThresholdInfo(BaseModel):
    """One threshold as the dashboard's thresholds dialog shows it."""

    name: str
    label: str
    description: str
    default: int
    minimum: int
    maximum: int

    @classmethod
    def all(cls) -> list[ThresholdInfo]:
        """Every threshold of `rules.ClassificationSpec`, from its field's title, docstring and bounds."""
        out = []
        for name, info in ClassificationSpec.model_fields.items():
            bounds = {k: getattr(m, k) for m in info.metadata for k in ("ge", "le") if hasattr(m, k)}
            out.append(cls(name=name, label=info.title, description=info.description, default=info.default,
                           minimum=bounds["ge"], maximum=bounds["le"]))
        return out


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
