"""Request and response models of the API (they make the OpenAPI document)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, create_model, field_validator

from perftiers.metadata.tokens import ROLES
from perftiers.rules import TIERS, ClassificationSpec

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Refuse control characters and lone surrogates (they cannot be stored as UTF-8)."""
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `not_found`, `already_running`.")
    message: str = Field(description="What went wrong and what to do next.")
    details: Any = Field(None, description="Extra facts: invalid fields, current version, ...")


class ErrorBody(BaseModel):
    error: ErrorInfo


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in ((400, "Bad parameter"), (401, "No or invalid token"), (403, "Role too low or CSRF"),
                         (404, "Not found"), (422, "Invalid body"))
}


# -- performance metrics -----------------------------------------------------------------------

class PerformanceMetric(BaseModel):
    artifact_id: str
    product_name: str | None
    product_type: str | None
    vendor: str | None
    tags: list[str]
    is_active: bool
    launched_at: datetime | None
    launch_date: date | None = Field(description="Launch day L in the store timezone (first sale when launched_at is empty).")
    sales_first_7_days: int
    sales_first_14_days: int
    sales_last_30_days: int
    aggregate_measurement_value: int = Field(description="Lifetime net units up to as_of.")
    revenue_last_30_days: float
    lifetime_revenue: float
    is_top_riser: bool
    is_winner: bool
    is_banana: bool
    is_archive: bool
    nominal_classification: Literal[(*TIERS, "none")]  # type: ignore[valid-type]
    classifications: list[Literal[TIERS]] = Field(  # type: ignore[valid-type]
        description="Every tier whose flag holds, in precedence order.")
    reasons: list[str] = Field(description="One sentence per flag: metric, value, threshold.")
    source: Literal["sync", "manual"]
    spec_version: int = Field(description="classification_spec version the flags were computed with.")
    as_of: date = Field(description="Reference date D of the refresh.")
    refreshed_at: datetime


class PerformanceMetricPage(BaseModel):
    items: list[PerformanceMetric]
    page: int
    pageSize: int
    total: int
    totalPages: int


class PerformanceSummary(BaseModel):
    total_artifacts: int
    top_risers: int
    winners: int
    bananas: int
    archive_candidates: int
    aggregate_measurement_total: int
    sales_last_30_days: int


Text = Annotated[str, StringConstraints(max_length=1000)]
Units = Annotated[int, Strict(), Ge(0), Le(10**12)]
Money = Annotated[float, Ge(-1e13), Le(1e13)]


class MetricFields(BaseModel):
    """Editable fields; flags and tiers are always computed by the rules."""

    model_config = ConfigDict(extra="forbid")

    product_name: Text | None = None
    product_type: Text | None = None
    vendor: Text | None = None
    tags: Annotated[list[Annotated[str, StringConstraints(max_length=200)]], Field(max_length=500)] | None = None
    is_active: Annotated[bool, Strict()] | None = None
    launched_at: datetime | None = None
    sales_first_7_days: Units | None = None
    sales_first_14_days: Units | None = None
    sales_last_30_days: Units | None = None
    aggregate_measurement_value: Units | None = None
    revenue_last_30_days: Money | None = None
    lifetime_revenue: Money | None = None

    @field_validator("product_name", "product_type", "vendor")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return None if v is None else clean_text(v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [clean_text(t) for t in v]

    @field_validator("launched_at")
    @classmethod
    def _year(cls, v: datetime | None) -> datetime | None:
        if v is not None and not 1900 <= v.year <= 2200:
            raise ValueError("launched_at must be between the years 1900 and 2200")
        return v

    @field_validator("is_active", "sales_first_7_days", "sales_first_14_days", "sales_last_30_days",
                     "aggregate_measurement_value", "revenue_last_30_days", "lifetime_revenue", mode="before")
    @classmethod
    def _not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("may not be null")
        return v

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class MetricCreate(MetricFields):
    artifact_id: Annotated[str, StringConstraints(min_length=1, max_length=512)]

    @field_validator("artifact_id")
    @classmethod
    def _id(cls, v: str) -> str:
        if v != v.strip():
            raise ValueError("artifact_id may not start or end with whitespace")
        return clean_text(v)


class MetricUpdate(MetricFields):
    pass


class FacetValue(BaseModel):
    value: str
    count: int


class TagValue(BaseModel):
    value: str = Field(description="The part after `category:` (the whole tag when it has no category).")
    tag: str = Field(description="The full tag, as the `tag` parameter takes it.")
    count: int


class TagCategory(BaseModel):
    category: str = Field(description="Text before the first `:`; empty for tags without a category.")
    values: list[TagValue]


class ActiveFacet(BaseModel):
    value: bool
    count: int


class Facets(BaseModel):
    product_types: list[FacetValue]
    vendors: list[FacetValue]
    tags: list[TagCategory]
    classifications: list[FacetValue]
    is_active: list[ActiveFacet]
    total: int = Field(description="Rows matching every current filter.")


class FilterInfo(BaseModel):
    param: str
    column: str
    kind: str
    sql: str
    description: str
    choices: list[str]
    repeatable: bool
    facet: bool


class SortInfo(BaseModel):
    param: str
    column: str
    description: str


class ListSchema(BaseModel):
    filters: list[FilterInfo]
    sorts: list[SortInfo]
    default_order: str
    tiers: list[str]
    page_size_max: int


class OverrideInfo(BaseModel):
    artifact_id: str
    deleted: bool
    fields: dict[str, Any]


class OverrideList(BaseModel):
    items: list[OverrideInfo]


class OverrideRemoved(BaseModel):
    artifact_id: str
    removed: bool
    message: str


# -- classification settings ---------------------------------------------------------------------

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


# -- commerce ------------------------------------------------------------------------------------

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


# -- runs, auth, health ----------------------------------------------------------------------------

class RunRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: str
    kind: Literal["sync", "refresh"]
    trigger: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    status: Literal["running", "succeeded", "failed"]
    counts: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    spec_version: int | None = None
    snapshot_id: int | None = None
    as_of: date | None = None


class RunList(BaseModel):
    items: list[RunRecord]


class RunStarted(RunRecord):
    then_refresh: bool = False


class SessionInfo(BaseModel):
    name: str
    role: Literal[ROLES]  # type: ignore[valid-type]


class SessionLogin(BaseModel):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class TokenInfo(BaseModel):
    id: int
    name: str
    role: str
    created_at: datetime
    revoked: bool


class TokenList(BaseModel):
    items: list[TokenInfo]


class TokenCreate(BaseModel):
    role: Literal[ROLES]  # type: ignore[valid-type]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else clean_text(v)


class TokenCreated(TokenInfo):
    token: str = Field(description="The secret; shown only in this response.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    snapshot_id: str | None
    raw_snapshot_id: str | None
    rows: int | None
    loaded_at: datetime | None
    has_data: bool
    metadata_db: bool
    last_error: str | None


class ScheduledJobInfo(BaseModel):
    name: str
    cron: str
    timezone: str
    next_run: datetime | None
    description: str


class Schedule(BaseModel):
    enabled: bool
    jobs: list[ScheduledJobInfo]
