"""`/api/performance-metrics/changes` and `/api/performance-metrics/{artifact_id}/history`.

Both read the tier history loaded with the served performance snapshot (the pair one refresh
wrote), so "then" and "now" come from one consistent view. Registered before the one-row routes:
`{artifact_id:path}` would otherwise capture `changes` and `.../history`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from perftiers.api import models
from perftiers.api.deps import ReaderDep, SettingsDep, ViewerDep
from perftiers.errors import BadRequest, NotFound
from perftiers.query import filters as flt
from perftiers.query import history as hist
from perftiers.query.filters import IsoDate
from perftiers.rules import TIERS
from perftiers.settings import Settings

MAX_PAGE_SIZE = 500
DEFAULT_DAYS = 90
ListFilters = Annotated[flt.FilterValues, Depends(flt.filter_dependency())]
Since = Annotated[str, Query(pattern=r"^(previous|\d{4}-\d{2}-\d{2})$",
                             description="`previous` (the refresh before the current one) or a past date YYYY-MM-DD.")]

collection = APIRouter(prefix="/api/performance-metrics", tags=["tier history"])
items = APIRouter(prefix="/api/performance-metrics", tags=["tier history"])


def store_today(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


def since_day(reader: Any, settings: Settings, since: str | None) -> date | None:
    ids = reader.snapshot.ids
    return hist.resolve_since(since, as_of=ids.as_of, previous=ids.previous_as_of, today=store_today(settings))


@collection.get("/changes", response_model=models.TierChanges, summary="Tier changes since a day")
def changes(
    _: ViewerDep,
    reader: ReaderDep,
    settings: SettingsDep,
    values: ListFilters,
    since: Since = "previous",
    page: Annotated[int, Query(ge=1, le=10**9, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE, description="Rows per page.")] = 50,
) -> dict:
    """Per tier, how many products (matching the list filters) entered and left it since `since`, and
    the products that moved with their tier then and now."""
    s = reader.snapshot
    day = since_day(reader, settings, since)
    counts = s.cache.get_or_compute(("moves", day, values.key),
                                    lambda: hist.moves(reader.cur, s.performance, s.history, day, values))
    moved = hist.moved_page(reader.cur, s.performance, s.history, day, values, page_no=page, page_size=page_size)
    return {"since": day, "as_of": s.ids.as_of, "tiers": [{"tier": t, **counts[t]} for t in TIERS], **moved}


@items.get("/{artifact_id:path}/history", response_model=models.ProductHistory, response_model_by_alias=True,
           summary="One product's tier timeline and daily sales")
def product_history(
    _: ViewerDep,
    reader: ReaderDep,
    settings: SettingsDep,
    artifact_id: str,
    start: Annotated[IsoDate | None, Query(alias="from", description="First day (default: `to` - 89 days).")] = None,
    end: Annotated[IsoDate | None, Query(alias="to", description="Last day (default: the current reference date).")] = None,
) -> dict:
    s = reader.snapshot
    today = store_today(settings)
    end = end or s.ids.as_of or today
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1) if end > date.min + timedelta(days=DEFAULT_DAYS) else date.min
    for name, day in (("from", start), ("to", end)):
        if day > today:
            raise BadRequest(f"{name} {day.isoformat()} is in the future (today is {today.isoformat()} in the "
                             f"store timezone)", details=[{"loc": ["query", name], "msg": "date in the future"}])
    if start > end:
        raise BadRequest(f"from {start.isoformat()} is after to {end.isoformat()}",
                         details=[{"loc": ["query", "from"], "msg": "after to"}])
    if (end - start).days >= hist.MAX_SERIES_DAYS:
        raise BadRequest(f"at most {hist.MAX_SERIES_DAYS} days at once",
                         details=[{"loc": ["query", "from"], "msg": "range too long"}])
    if not hist.known(reader.cur, s.performance, s.history, artifact_id):
        raise NotFound(f"no product with artifact_id {artifact_id!r}", details={"artifact_id": artifact_id})
    return {"artifact_id": artifact_id, "from": start, "to": end,
            **hist.timeline(reader.cur, s.history, s.daily, artifact_id, start, end)}
