"""`/analytics/commerce/*`: read-only KPIs over raw order lines (inclusive store-timezone dates).

Answers are cached per snapshot and period: a new raw snapshot starts with an empty cache.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from perftiers.api import models
from perftiers.api.deps import ReaderDep, SettingsDep, ViewerDep
from perftiers.query import commerce
from perftiers.query.filters import IsoDate

router = APIRouter(prefix="/analytics/commerce", tags=["commerce analytics"])

From = Annotated[IsoDate | None, Query(alias="from", description="First day, inclusive (default: 29 days before `to`).")]
To = Annotated[IsoDate | None, Query(description="Last day, inclusive (default: today in the store timezone).")]


@router.get("/overview", response_model=models.CommerceOverview, summary="Revenue, orders, AOV, units")
def overview(_: ViewerDep, reader: ReaderDep, settings: SettingsDep, from_: From = None, to: To = None) -> dict:
    start, end = commerce.period(settings, from_, to)
    return reader.snapshot.cache.get_or_compute(
        ("overview", start, end), lambda: commerce.overview(reader.snapshot, reader.cur, settings, start, end))


@router.get("/products", response_model=models.TopProducts, summary="Top products by revenue or units")
def products(
    _: ViewerDep,
    reader: ReaderDep,
    settings: SettingsDep,
    from_: From = None,
    to: To = None,
    by: Annotated[Literal["revenue", "units"], Query(description="Ranking measure; ties by artifact_id.")] = "revenue",
    limit: Annotated[int, Query(ge=1, le=100, description="How many products.")] = 10,
) -> dict:
    start, end = commerce.period(settings, from_, to)
    items = reader.snapshot.cache.get_or_compute(
        ("products", start, end, by, limit),
        lambda: commerce.top_products(reader.snapshot, reader.cur, start, end, by=by, limit=limit))
    return {"from": start, "to": end, "by": by, "items": items}


@router.get("/daily", response_model=models.DailyFigures, summary="Revenue, units and orders per day")
def daily(_: ViewerDep, reader: ReaderDep, settings: SettingsDep, from_: From = None, to: To = None) -> dict:
    start, end = commerce.period(settings, from_, to)
    return {"from": start, "to": end, "currency": settings.currency,
            "items": reader.snapshot.cache.get_or_compute(
                ("daily", start, end), lambda: commerce.daily(reader.snapshot, reader.cur, start, end))}
