"""The list filters and sortable columns of `/api/performance-metrics`, as one declarative table.

Each `Filter` names its query parameter, the column it reads, the SQL it adds (with `?`
placeholders; values are always bound, never formatted into SQL) and a description. The same
table drives the parameters FastAPI validates and documents in OpenAPI (`filter_dependency`),
the WHERE clause (`where`), facet counts and the choices the dashboard offers
(`GET /api/performance-metrics/schema`).

Tags: `tag` is repeatable. Tags of the form `category:value` are grouped by category; a row
matches when it has at least one tag of every chosen category (OR within a category, AND across
categories). Tags without a colon form one more category (named ``), so they are ORed together.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Callable, Literal

from fastapi import Query
from pydantic import BeforeValidator

from perftiers.rules import FLAG_OF_TIER, TIERS, tier_rank_sql

MAX_TEXT = 200
MAX_VALUES = 100


def _iso_day(value: Any) -> Any:
    """Only `YYYY-MM-DD`: pydantic alone also reads `0` or `86400` as days of 1970 (Unix time)."""
    if isinstance(value, str) and not (len(value) == 10 and value[4] == value[7] == "-"
                                       and value.replace("-", "").isdigit()):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_day)]
"""A date query parameter: ISO `YYYY-MM-DD` only (schema: string, format date)."""


@dataclass(frozen=True)
class Filter:
    param: str
    column: str
    kind: Literal["choice", "text", "values", "tags", "date", "bool"]
    sql: str
    """SQL condition with `?` placeholders; for `choice`, `{flag}` is the chosen value's column."""
    description: str
    choices: tuple[str, ...] = ()
    facet: bool = False
    """Whether the facets endpoint counts this filter's values."""


FILTERS: tuple[Filter, ...] = (
    Filter("classification", "is_top_riser | is_winner | is_banana | is_archive", "choice", "{flag}",
           "Tier: rows whose flag for that tier holds (a product with two flags appears under both). "
           "`all` (the default) keeps every row.", choices=(*TIERS, "all")),
    Filter("search", "artifact_id, product_name", "text",
           "(contains(_id_lc, lower(?)) OR contains(_name_lc, lower(?)))",
           "Case-insensitive substring of product_name or artifact_id; `%` and `_` match themselves."),
    Filter("product_type", "product_type", "values", "list_contains(?, product_type)",
           "Exact product type; repeat the parameter to accept several.", facet=True),
    Filter("vendor", "vendor", "values", "list_contains(?, vendor)",
           "Exact vendor; repeat the parameter to accept several.", facet=True),
    Filter("tag", "tags", "tags", "list_has_any(tags, ?)",
           "Tag, repeatable. `category:value` tags: OR within a category, AND across categories "
           "(one condition per category).", facet=True),
    Filter("launched_from", "launch_date", "date", "launch_date >= ?",
           "Launch date (store timezone; the first sale when launched_at is empty) on or after this day."),
    Filter("launched_to", "launch_date", "date", "launch_date <= ?",
           "Launch date on or before this day."),
    Filter("is_active", "is_active", "bool", "is_active = ?", "Active (`true`) or inactive (`false`) products."),
)

FILTER_BY_PARAM = {f.param: f for f in FILTERS}


@dataclass(frozen=True)
class SortColumn:
    param: str
    column: str
    description: str


SORTS: tuple[SortColumn, ...] = (
    SortColumn("artifact_id", "artifact_id", "Artifact identifier (byte order)."),
    SortColumn("product_name", "product_name", "Product name."),
    SortColumn("product_type", "product_type", "Product type."),
    SortColumn("vendor", "vendor", "Vendor."),
    SortColumn("is_active", "is_active", "Active flag."),
    SortColumn("launch_date", "launch_date", "Launch date (store timezone)."),
    SortColumn("launched_at", "launched_at", "Launch timestamp as given by the store."),
    SortColumn("sales_first_7_days", "sales_first_7_days", "Net units in the first 7 days from launch."),
    SortColumn("sales_first_14_days", "sales_first_14_days", "Net units in the first 14 days from launch."),
    SortColumn("sales_last_30_days", "sales_last_30_days", "Net units in the last 30 days."),
    SortColumn("aggregate_measurement_value", "aggregate_measurement_value", "Lifetime net units."),
    SortColumn("revenue_last_30_days", "revenue_last_30_days", "Net revenue in the last 30 days."),
    SortColumn("lifetime_revenue", "lifetime_revenue", "Lifetime net revenue."),
    SortColumn("nominal_classification", tier_rank_sql(), "Nominal tier by precedence (ascending: top riser, "
               "winner, banana, archive candidate, none)."),
    SortColumn("source", "source", "sync or manual."),
)
SORT_BY_PARAM = {s.param: s for s in SORTS}
DEFAULT_SORT: tuple[tuple[str, str], ...] = (("nominal_classification", "asc"), ("aggregate_measurement_value", "desc"),
                                             ("artifact_id", "asc"))
"""The default order as (sort param, direction) pairs; `/schema` lists them so the dashboard can say so."""
DEFAULT_ORDER_SQL = f"{tier_rank_sql()} ASC, aggregate_measurement_value DESC, artifact_id ASC"
"""The default list order (tier by precedence, then aggregate measurement, then id); the served table is stored in it and numbered (`_rank`)."""

SortParam = Literal[tuple(s.param for s in SORTS)]  # type: ignore[valid-type]
OrderParam = Literal["asc", "desc"]


@dataclass(frozen=True)
class FilterValues:
    """Validated filter values, normalised so equal filters give equal `key`s (for caches)."""

    values: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in self.values.items()))

    def without(self, *params: str) -> "FilterValues":
        return FilterValues({k: v for k, v in self.values.items() if k not in params})

    def with_tags(self, tags: list[str]) -> "FilterValues":
        values = {k: v for k, v in self.values.items() if k != "tag"}
        if tags:
            values["tag"] = sorted(tags)
        return FilterValues(values)

    def get(self, param: str) -> Any:
        return self.values.get(param)


def tag_category(tag: str) -> str:
    """`color:red` -> `color`; a tag without a colon belongs to the category ``."""
    return tag.split(":", 1)[0] if ":" in tag else ""


def tag_groups(tags: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for tag in tags:
        groups.setdefault(tag_category(tag), []).append(tag)
    return {k: sorted(v) for k, v in sorted(groups.items())}


def where(values: FilterValues) -> tuple[str, list[Any]]:
    """The WHERE clause (`TRUE` when unfiltered) and its bound parameters, in table order."""
    clauses: list[str] = []
    params: list[Any] = []
    for f in FILTERS:
        value = values.get(f.param)
        if value is None:
            continue
        if f.kind == "choice":
            if value != "all":
                clauses.append(f.sql.format(flag=FLAG_OF_TIER[value]))
        elif f.kind == "tags":
            for group in tag_groups(value).values():
                clauses.append(f.sql)
                params.append(group)
        else:
            clauses.append(f.sql)
            params.extend([value] * f.sql.count("?"))
    return (" AND ".join(f"({c})" for c in clauses) or "TRUE"), params


def order_by(sort: str | None, order: str | None) -> str:
    """ORDER BY for a validated sort column; ties by artifact_id. Default: the stored rank."""
    if sort is None:
        return "_rank DESC" if order == "asc" else "_rank"
    direction = "DESC" if order == "desc" else "ASC"
    column = SORT_BY_PARAM[sort].column
    return f"{column} {direction} NULLS LAST, artifact_id {direction}"


# -- FastAPI parameters generated from the table ---------------------------------------------

def _annotation_and_query(f: Filter) -> tuple[Any, Any]:
    if f.kind == "choice":
        return Literal[f.choices] | None, Query(None, description=f.description)  # type: ignore[valid-type]
    if f.kind == "text":
        return str | None, Query(None, max_length=MAX_TEXT, description=f.description)
    if f.kind in ("values", "tags"):
        return list[str] | None, Query(None, max_length=MAX_VALUES, description=f.description)
    if f.kind == "date":
        return IsoDate | None, Query(None, description=f.description)
    return bool | None, Query(None, description=f.description)


def filter_dependency(*, exclude: tuple[str, ...] = ()) -> Callable[..., FilterValues]:
    """A FastAPI dependency whose parameters are the filters (minus `exclude`)."""
    chosen = [f for f in FILTERS if f.param not in exclude]

    def dependency(**kwargs: Any) -> FilterValues:
        values: dict[str, Any] = {}
        for f in chosen:
            value = kwargs.get(f.param)
            if value is None or (isinstance(value, list) and not value):
                continue
            if isinstance(value, list):
                if any(len(v) > MAX_TEXT for v in value):
                    from perftiers.errors import BadRequest

                    raise BadRequest(f"each {f.param} value may have at most {MAX_TEXT} characters",
                                     details=[{"loc": ["query", f.param], "msg": "value too long"}])
                value = sorted(set(value))
            values[f.param] = value
        if values.get("classification") == "all":
            values.pop("classification")
        return FilterValues(values)

    parameters = []
    for f in chosen:
        annotation, default = _annotation_and_query(f)
        parameters.append(inspect.Parameter(f.param, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=annotation))
    dependency.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    dependency.__name__ = "filters_" + "_".join(exclude) if exclude else "filters"
    return dependency


def describe() -> dict[str, Any]:
    """The table as JSON, for the schema endpoint and the dashboard."""
    return {
        "filters": [
            {"param": f.param, "column": f.column, "kind": f.kind, "sql": f.sql, "description": f.description,
             "choices": list(f.choices), "repeatable": f.kind in ("values", "tags"), "facet": f.facet}
            for f in FILTERS
        ],
        "sorts": [{"param": s.param, "column": s.column, "description": s.description} for s in SORTS],
        "default_order": ", ".join(f"{p} {o.upper()}" for p, o in DEFAULT_SORT),
        "default_sort": [{"param": p, "order": o} for p, o in DEFAULT_SORT],
    }
