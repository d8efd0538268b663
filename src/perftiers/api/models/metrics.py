"""Performance metric rows, pages, summary, facets, the filter schema, manual changes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints, field_validator

from perftiers.api.models.common import clean_text
from perftiers.api.models.history import TierCounts
from perftiers.api.models.thresholds import ThresholdInfo
from perftiers.rules import TIERS, Tier


class Reason(BaseModel):
    """Why a row carries one of its flags."""

    tier: Literal[TIERS]  # type: ignore[valid-type]
    metric: str = Field(description="The metric the rule reads, e.g. `sales_last_30_days`.")
    value: int = Field(description="The row's value of `metric`.")
    threshold: int | None = Field(description="The threshold the value was held against (null: the rule has none).")
    text: str = Field(description="The reason in plain words, e.g. "
                                  "\"Sold 412 units in its first 7 days; a top riser needs 400\".")


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
    reasons: list[Reason] = Field(description="Why each flag holds (a top riser over both thresholds has two).")
    source: Literal["sync", "manual"]
    spec_version: int = Field(description="classification_spec version the flags were computed with.")
    as_of: date = Field(description="Reference date D of the refresh.")
    refreshed_at: datetime
    previous_nominal_classification: Literal[(*TIERS, "none")] | None = Field(  # type: ignore[valid-type]
        None, description="Tier at the previous refresh (tier history); null: no state then or no previous refresh.")


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
    previous_as_of: date | None = Field(None, description="Reference date of the previous refresh.")
    entered: TierCounts | None = Field(None, description="Per tier: products that entered it since the previous refresh.")
    left: TierCounts | None = Field(None, description="Per tier: products that left it since the previous refresh.")


Text = Annotated[str, StringConstraints(max_length=1000)]
Units = Annotated[int, Strict(), Ge(0), Le(10**12)]
def _to_money(v: float) -> float:
    """Round to the stored precision (4 decimal places, half to even), as the table keeps it."""
    return float(Decimal(repr(v)).quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN))


MONEY_STEP = Decimal("0.0001")
Money = Annotated[float, Ge(-1e13), Le(1e13), AfterValidator(_to_money),
                  Field(description="Money, stored with 4 decimal places: finer values are rounded half to even.")]


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


class SortKey(BaseModel):
    param: str
    order: Literal["asc", "desc"]


class StoreInfo(BaseModel):
    """What the dashboard shows about the store itself."""

    timezone: str = Field(description="Store timezone (IANA name): days, windows and times are in it.")
    shopify_product_url: str | None = Field(
        description="For a Shopify store: a product's page in the Shopify admin is this URL followed by the "
                    "URL-encoded artifact_id (the product handle). Null for other sources.")


class ListSchema(BaseModel):
    filters: list[FilterInfo]
    sorts: list[SortInfo]
    default_order: str
    default_sort: list[SortKey] = Field(description="The order without `sort`: these keys, first to last.")
    store: StoreInfo
    tiers: list[Tier] = Field(description="Every tier in precedence order: key, flag, labels, rule in words.")
    thresholds: list[ThresholdInfo] = Field(description="The classification thresholds: label, help, bounds.")
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
