"""The hot reads (list, summary, facets) are written without FastAPI's response-model step:
their bytes must equal what the model writes, and the first-page cache must follow snapshot swaps."""

from __future__ import annotations

import pytest

from perftiers.api import fastjson, models
from perftiers.api.app import create_app
from perftiers.query import performance as perf
from perftiers.query.snapshot import Snapshot
from tests.api import store as known

URL = "/api/performance-metrics"

LIST_VIEWS = [
    {},
    {"pageSize": 3},
    {"pageSize": 3, "page": 2},
    {"pageSize": 3, "page": 3, "order": "asc"},
    {"order": "asc"},
    {"classification": "winner"},
    {"search": "a", "sort": "lifetime_revenue", "order": "desc"},
    {"sort": "launched_at", "pageSize": 2, "page": 2},
    {"tag": ["color:red", "size:M"], "is_active": "true"},
    {"changed_since": "previous"},
    {"page": 9},
]


def model_bytes(model: type, content: bytes) -> bytes:
    """What FastAPI's response-model step writes for this content (validate, then dump)."""
    return model.model_validate_json(content).model_dump_json().encode()


@pytest.mark.parametrize("params", LIST_VIEWS, ids=repr)
def test_list_bytes_equal_the_models(api, params):
    for _ in range(2):  # the rendered first page is served from the cache the second time
        r = api.get(URL, params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.headers["X-Snapshot-Id"].isdigit() and r.headers["X-Raw-Snapshot-Id"]
        assert r.content == model_bytes(models.PerformanceMetricPage, r.content)


def test_items_carry_utc_datetimes_money_and_every_field(api):
    body = api.get(URL, params={"pageSize": 500}).json()
    assert len(body["items"]) == len(known.DEFAULT_ORDER)
    fields = list(models.PerformanceMetric.model_fields)
    for item in body["items"]:
        assert list(item) == fields
        assert item["refreshed_at"].endswith("Z")
        assert isinstance(item["lifetime_revenue"], float) and isinstance(item["revenue_last_30_days"], float)
    launched = {i["artifact_id"]: i["launched_at"] for i in body["items"]}
    assert launched["SKU-001"] == "2025-03-21T09:00:00Z"


def test_a_money_value_reads_back_as_the_model_writes_it(fresh_api):
    api = fresh_api
    for value in (12.3456, 1e13, -7.25, 0.0):
        assert api.put(f"{URL}/SKU-006", role="editor", json={"lifetime_revenue": value}).status_code == 200
        r = api.get(URL, params={"search": "SKU-006"})
        assert r.content == model_bytes(models.PerformanceMetricPage, r.content)
        assert r.json()["items"][0]["lifetime_revenue"] == value


@pytest.mark.parametrize("params", [{}, {"vendor": "Acme"}, {"tag": "color:red", "is_active": "false"}], ids=repr)
def test_summary_and_facets_bytes_equal_the_models(api, params):
    for _ in range(2):
        summary = api.get(f"{URL}/stats/summary", params=params)
        facets = api.get(f"{URL}/facets", params=params)
        assert summary.status_code == facets.status_code == 200, (summary.text, facets.text)
        assert summary.content == model_bytes(models.PerformanceSummary, summary.content)
        assert facets.content == model_bytes(models.Facets, facets.content)
        assert summary.headers["X-Snapshot-Id"] == facets.headers["X-Snapshot-Id"]
    assert summary.json()["total_artifacts"] == facets.json()["total"]


def test_the_openapi_schema_still_names_the_models(api):
    paths = create_app(api.settings).openapi()["paths"]
    for path, model in ((URL, "PerformanceMetricPage"), (f"{URL}/stats/summary", "PerformanceSummary"),
                        (f"{URL}/facets", "Facets")):
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}, path


def test_orjson_writes_datetimes_like_pydantic():
    from datetime import date, datetime, timedelta, timezone

    values = {"utc": datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
              "plus2": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
              "day": date(2025, 1, 2), "money": [0.1, 12.3456, 1e13, -7.25, 20.0, 1e-5]}
    from pydantic import TypeAdapter

    assert fastjson.dumps(values) == TypeAdapter(dict).dump_json(values)


def test_first_page_is_cached_per_snapshot_and_dropped_on_a_swap(fresh_api):
    api = fresh_api
    before = api.get(URL, params={"pageSize": 3})
    assert before.status_code == 200
    engine = api.app.state.engine
    s: Snapshot = engine.current()
    assert len(s.first_pages._data) == 1
    # A first page served again comes from the cache: the query runs no more.
    calls = []
    real = perf.page
    try:
        perf.page = lambda *a, **k: calls.append(1) or real(*a, **k)
        again = api.get(URL, params={"pageSize": 3})
        assert again.content == before.content and calls == []
        api.get(URL, params={"pageSize": 3, "page": 2})  # later pages are not cached
        assert calls == [1] and len(s.first_pages._data) == 1
    finally:
        perf.page = real

    changed = api.put(f"{URL}/{known.DEFAULT_ORDER[0]}", role="editor", json={"product_name": "Renamed First"})
    assert changed.status_code == 200, changed.text
    assert engine.current() is not s  # the write swapped the snapshot
    after = api.get(URL, params={"pageSize": 3})
    assert after.headers["X-Snapshot-Id"] != before.headers["X-Snapshot-Id"]
    first = after.json()["items"][0]
    assert first["artifact_id"] == known.DEFAULT_ORDER[0] and first["product_name"] == "Renamed First"


def test_each_cached_first_page_is_its_own_views(fresh_api):
    """Views that differ in any parameter (filter, sort, order, page size, changed_since) never
    share a cached first page: each equals the same view rendered with an empty cache."""
    api = fresh_api
    views = [v for v in LIST_VIEWS if v.get("page", 1) == 1] + [{"sort": "launched_at"},
                                                                 {"sort": "launched_at", "order": "desc"},
                                                                 {"pageSize": 2}, {"pageSize": 2, "order": "asc"}]
    cached = [api.get(URL, params=v).content for v in views]
    assert len(set(cached)) == len(views)  # the views really differ
    first_pages = api.app.state.engine.current().first_pages
    assert len(first_pages._data) == len(views)
    for view, body in zip(views, cached):
        first_pages._data.clear()
        assert api.get(URL, params=view).content == body, view


@pytest.mark.parametrize("size", [1, 3, 5, 8])
def test_default_order_pages_read_by_rank_both_ways(api, size):
    """Unfiltered default-order pages are read as a range of the stored rank, in both directions."""
    pages = -(-len(known.DEFAULT_ORDER) // size)
    for order, expected in ((None, known.DEFAULT_ORDER), ("desc", known.DEFAULT_ORDER),
                            ("asc", known.DEFAULT_ORDER[::-1])):
        got = []
        for p in range(1, pages + 2):
            body = api.get(URL, params={"pageSize": size, "page": p, **({"order": order} if order else {})}).json()
            got += [i["artifact_id"] for i in body["items"]]
        assert got == expected, (order, size)
