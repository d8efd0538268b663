"""`/api/performance-metrics`: list, summary, facets, schema, export, one row, create/update/delete.

Reads answer from the query engine's current snapshot (`X-Snapshot-Id` names it). Writes go
through `perftiers.refresh.edits` (pipeline lock, override, one overwrite commit), then the engine
loads the new snapshot before answering, so the caller reads its own write.
"""

from __future__ import annotations

from typing import Annotated, Iterator, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter

from perftiers import rules
from perftiers.api import exports, fastjson, models
from perftiers.api.deps import EditorDep, EngineDep, MetaDbDep, Reader, ReaderDep, SettingsDep, ViewerDep
from perftiers.errors import ConfigurationError, NotFound, ValidationFailed
from perftiers.metadata import overrides
from perftiers.query import filters as flt
from perftiers.query import history as tier_history
from perftiers.api.routes import history as history_routes
from perftiers.query import performance as perf
from perftiers.query.engine import QueryEngine
from perftiers.refresh import edits
from perftiers.settings import Settings
from perftiers.sources.shopify.client import shop_url

MAX_PAGE_SIZE = 500
ListFilters = Annotated[flt.FilterValues, Depends(flt.filter_dependency())]
SummaryFilters = Annotated[flt.FilterValues, Depends(flt.filter_dependency(exclude=("classification",)))]
Sort = Annotated[flt.SortParam | None, Query(description="Column to sort by; ties by artifact_id. "
                                                          "Default: nominal_classification DESC, "
                                                          "aggregate_measurement_value DESC, artifact_id.")]
Order = Annotated[flt.OrderParam | None, Query(description="asc or desc (default asc with `sort`).")]

collection = APIRouter(prefix="/api/performance-metrics", tags=["performance metrics"])
items = APIRouter(prefix="/api/performance-metrics", tags=["performance metrics"])


@collection.get("", response_model=models.PerformanceMetricPage, summary="List performance metrics")
def list_metrics(
    _: ViewerDep,
    reader: ReaderDep,
    settings: SettingsDep,
    values: ListFilters,
    response: Response,
    sort: Sort = None,
    order: Order = None,
    page: Annotated[int, Query(ge=1, le=10**9, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE, description="Rows per page.")] = 50,
    changed_since: Annotated[str | None, Query(
        pattern=r"^(previous|\d{4}-\d{2}-\d{2})$",
        description="Only products whose tier flags changed since `previous` (the refresh before the "
                    "current one) or a past date YYYY-MM-DD.")] = None,
) -> Response:
    s = reader.snapshot
    extra = None
    if changed_since is not None:
        extra = tier_history.changed_since(s.performance, s.history,
                                           history_routes.since_day(reader, settings, changed_since))

    def render() -> bytes:
        result = perf.page(s, reader.cur, values, sort=sort, order=order, page_no=page,
                           page_size=page_size, spec_of=reader.spec_of, extra=extra)
        _with_previous(reader, result["items"])
        return fastjson.dumps(result)

    if page == 1:  # the first page of each view, rendered once per snapshot (a swap brings a new cache)
        key = (values.key, sort, order, page_size, extra[2] if extra else None)
        body = s.first_pages.get_or_compute(key, render)
    else:
        body = render()
    return fastjson.respond(body, response)


@collection.post("", response_model=models.PerformanceMetric, status_code=status.HTTP_201_CREATED,
                 responses=models.WRITE_CONFLICT, summary="Create a performance metric (kept as a manual override)")
def create_metric(principal: EditorDep, body: models.MetricCreate, settings: SettingsDep, engine: EngineDep,
                  db: MetaDbDep, request: Request, response: Response) -> dict:
    fields = body.changes()
    fields.pop("artifact_id", None)
    edits.create(settings, body.artifact_id, fields, by=principal.name)
    return _reload_and_get(engine, db, request, body.artifact_id, response)


@collection.get("/stats/summary", response_model=models.PerformanceSummary, summary="Tier counts and totals")
def summary(_: ViewerDep, reader: ReaderDep, values: SummaryFilters, response: Response) -> Response:
    s = reader.snapshot

    def render() -> bytes:
        previous = s.ids.previous_as_of
        moves = s.cache.get_or_compute(("moves", previous, values.key), lambda: tier_history.moves(
            reader.cur, s.performance, s.history, previous, values))
        body = {**perf.summary(s, reader.cur, values), "previous_as_of": previous,
                "entered": {t: m["entered"] for t, m in moves.items()},
                "left": {t: m["left"] for t, m in moves.items()}}
        return _SUMMARY.dump_json(_SUMMARY.validate_python(body))

    # Validated and written by the model once per snapshot and filter, then served as bytes.
    return fastjson.respond(s.cache.get_or_compute(("summary.json", values.key), render), response)


def _with_previous(reader: Reader, rows: list[dict]) -> list[dict]:
    """Add each row's tier at the previous refresh (tier history)."""
    s = reader.snapshot
    then = tier_history.previous_tiers(reader.cur, s.history, s.ids.previous_as_of, [r["artifact_id"] for r in rows])
    for row in rows:
        row["previous_nominal_classification"] = then.get(row["artifact_id"])
    return rows


@collection.get("/facets", response_model=models.Facets, summary="Filter choices with counts")
def facets(_: ViewerDep, reader: ReaderDep, values: ListFilters, response: Response) -> Response:
    """Counts of each facet under every current filter except the facet's own."""
    s = reader.snapshot
    body = s.cache.get_or_compute(("facets.json", values.key), lambda: _FACETS.dump_json(
        _FACETS.validate_python(perf.facets(s, reader.cur, values))))
    return fastjson.respond(body, response)


_SUMMARY = TypeAdapter(models.PerformanceSummary)
_FACETS = TypeAdapter(models.Facets)


@collection.get("/schema", response_model=models.ListSchema,
                summary="The list filters, sortable columns, tiers and thresholds")
def schema(_: ViewerDep, settings: SettingsDep) -> dict:
    """What the dashboard draws its choices, cards, badges and threshold help from (all from `rules`),
    and the store facts its pages show (timezone, Shopify admin link)."""
    return {**flt.describe(), "tiers": list(rules.TIER_TABLE), "thresholds": models.ThresholdInfo.all(),
            "page_size_max": MAX_PAGE_SIZE, "store": _store_info(settings)}


def _store_info(settings: Settings) -> dict:
    product_url = None
    if settings.shopify_shop and settings.sync_source.startswith("shopify"):
        try:
            product_url = f"{shop_url(settings.shopify_shop)}/admin/products?query="
        except ConfigurationError:
            product_url = None  # a bad shop name is reported by sync and doctor, not here
    return {"timezone": settings.timezone, "shopify_product_url": product_url}


@collection.get("/export", summary="Every matching row as CSV or Parquet (streamed)",
                response_class=StreamingResponse,
                responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
                                 "description": "All rows matching the filters, in the requested order."}})
def export(
    _: ViewerDep,
    engine: EngineDep,
    values: ListFilters,
    sort: Sort = None,
    order: Order = None,
    format: Annotated[Literal["csv", "parquet"], Query(description="csv or parquet")] = "csv",
) -> StreamingResponse:
    ctx = engine.reading()
    snapshot, cur = ctx.__enter__()
    try:
        batches = perf.export_batches(snapshot, cur, values, sort=sort, order=order)
        body = exports.csv_chunks(batches) if format == "csv" else exports.parquet_chunks(batches)
        first = next(body)  # run the query now, so errors become a proper response
    except BaseException as exc:
        ctx.__exit__(type(exc), exc, exc.__traceback__)
        raise

    def stream() -> Iterator[bytes]:
        try:
            yield first
            yield from body
        finally:
            ctx.__exit__(None, None, None)

    media = "text/csv; charset=utf-8" if format == "csv" else "application/vnd.apache.parquet"
    name = f"{export_name(values, snapshot.ids.as_of)}.{format}"
    return StreamingResponse(stream(), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "X-Snapshot-Id": snapshot.snapshot_id})


def export_name(values: flt.FilterValues, as_of) -> str:
    """The file name says what was exported and as of when, e.g. `winners-filtered-2025-04-03`
    (a person keeps several exports side by side; a snapshot number told them nothing)."""
    tier = values.get("classification")
    label = next((t.plural for t in rules.TIER_TABLE if t.key == tier), "products") if tier else "all-products"
    parts = [label.lower().replace(" ", "-")]
    if values.without("classification").values:
        parts.append("filtered")
    parts.append(as_of.isoformat() if as_of else "no-refresh")
    return "-".join(parts)


@collection.get("/overrides", response_model=models.OverrideList, summary="Manual changes kept across refreshes")
def list_overrides(_: ViewerDep, db: MetaDbDep) -> dict:
    return {"items": [{"artifact_id": o.artifact_id, "deleted": o.deleted, "fields": o.fields}
                      for o in overrides.load_all(db)]}


@collection.delete("/overrides/{artifact_id:path}", response_model=models.OverrideRemoved,
                   summary="Stop keeping a manual change (the next refresh restores synced values)")
def remove_override(_: EditorDep, artifact_id: str, db: MetaDbDep) -> dict:
    if not overrides.remove(db, artifact_id):
        raise NotFound(f"no manual change is kept for {artifact_id!r}", details={"artifact_id": artifact_id})
    return {"artifact_id": artifact_id, "removed": True,
            "message": "The manual change is no longer kept; the next refresh shows the synced values."}


# -- one row (registered last: `{artifact_id:path}` would match the paths above) ---------------

@items.get("/{artifact_id:path}", response_model=models.PerformanceMetric, summary="One performance metric")
def get_metric(_: ViewerDep, reader: ReaderDep, artifact_id: str) -> dict:
    row = perf.one(reader.snapshot, reader.cur, artifact_id, reader.spec_of)
    if row is None:
        raise NotFound(f"no performance metric with artifact_id {artifact_id!r}", details={"artifact_id": artifact_id})
    return _with_previous(reader, [row])[0]


@items.put("/{artifact_id:path}", response_model=models.PerformanceMetric, responses=models.WRITE_CONFLICT,
           summary="Update the given fields (kept as a manual override)")
def update_metric(principal: EditorDep, artifact_id: str, body: models.MetricUpdate, settings: SettingsDep,
                  engine: EngineDep, db: MetaDbDep, request: Request, response: Response) -> dict:
    fields = body.changes()
    if not fields:
        raise ValidationFailed("Send at least one field to change.",
                               details=[{"loc": ["body"], "msg": "no fields", "type": "missing"}])
    edits.update(settings, artifact_id, fields, by=principal.name)
    return _reload_and_get(engine, db, request, artifact_id, response)


@items.delete("/{artifact_id:path}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
              responses=models.WRITE_CONFLICT,
              summary="Delete (kept deleted across refreshes until the override is removed)")
def delete_metric(principal: EditorDep, artifact_id: str, settings: SettingsDep, engine: EngineDep) -> Response:
    edits.delete(settings, artifact_id, by=principal.name)
    engine.check(force=True)
    current = engine.current()
    return Response(status_code=204, headers={"X-Snapshot-Id": current.snapshot_id if current else "none"})


def _reload_and_get(engine: QueryEngine, db: sa.Engine, request: Request, artifact_id: str,
                    response: Response) -> dict:
    """Load the snapshot the write just committed, then answer the row from it."""
    engine.check(force=True)
    with engine.reading() as (snapshot, cur):
        response.headers["X-Snapshot-Id"] = snapshot.snapshot_id
        reader = Reader(snapshot, cur, db, request.app.state.specs)
        row = perf.one(snapshot, cur, artifact_id, reader.spec_of)
    if row is None:  # a concurrent delete won the race
        raise NotFound(f"no performance metric with artifact_id {artifact_id!r}")
    return row
