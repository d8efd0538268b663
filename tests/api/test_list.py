"""Reads of /api/performance-metrics against the known store (values worked out in store.py)."""

from __future__ import annotations

import io
import csv

import pyarrow.parquet as pq
import pytest

from tests.api import store as known
from tests.api.conftest import assert_error, bearer, client_for, make_settings, make_tokens


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["artifact_id"] for item in response.json()["items"]]


def all_ids(api, params=None) -> list[str]:
    return ids(api.get("/api/performance-metrics", params={**(params or {}), "pageSize": 500}))


def test_default_order_and_pagination(api):
    first = api.get("/api/performance-metrics", params={"pageSize": 3})
    body = first.json()
    assert body["page"] == 1 and body["pageSize"] == 3 and body["total"] == 8 and body["totalPages"] == 3
    pages = [ids(api.get("/api/performance-metrics", params={"pageSize": 3, "page": p})) for p in (1, 2, 3)]
    assert sum(pages, []) == known.DEFAULT_ORDER
    beyond = api.get("/api/performance-metrics", params={"pageSize": 3, "page": 4}).json()
    assert beyond["items"] == [] and beyond["total"] == 8
    assert first.headers["X-Snapshot-Id"].isdigit()


def test_rows_carry_every_flag_and_reasons(api):
    by_id = {i["artifact_id"]: i for i in api.get("/api/performance-metrics").json()["items"]}
    assert {k: v["classifications"] for k, v in by_id.items()} == known.EXPECTED_FLAGS
    alpha = by_id["SKU-001"]
    assert (alpha["is_top_riser"], alpha["is_winner"], alpha["is_banana"], alpha["is_archive"]) == (True, True, False, False)
    assert alpha["nominal_classification"] == "top_riser"
    assert alpha["reasons"] == [
        {"tier": "top_riser", "metric": "sales_first_7_days", "value": 12, "threshold": 10,
         "text": "Sold 12 units in its first 7 days; a top riser needs 10"},
        {"tier": "top_riser", "metric": "sales_first_14_days", "value": 25, "threshold": 15,
         "text": "Sold 25 units in its first 14 days; a top riser needs 15"},
        {"tier": "winner", "metric": "sales_last_30_days", "value": 25, "threshold": 20,
         "text": "Sold 25 units in the last 30 days; a winner needs 20"},
    ]
    assert by_id["SKU-005"]["reasons"] == [
        {"tier": "banana", "metric": "aggregate_measurement_value", "value": 0, "threshold": 2,
         "text": "Sold 0 units in its lifetime, among the 2 lowest"},
        {"tier": "archive_candidate", "metric": "sales_last_30_days", "value": 0, "threshold": None,
         "text": "Inactive and no sales in the last 30 days"},
    ]
    for item in by_id.values():  # every flag has a reason naming its tier, and no reason names another
        assert {r["tier"] for r in item["reasons"]} == set(item["classifications"]), item["artifact_id"]
    assert (alpha["sales_first_7_days"], alpha["sales_first_14_days"], alpha["sales_last_30_days"],
            alpha["aggregate_measurement_value"]) == (12, 25, 25, 25)
    assert alpha["revenue_last_30_days"] == 490.0 and alpha["source"] == "sync" and alpha["spec_version"] == 1
    assert by_id["SKU-005"]["nominal_classification"] == "banana"
    assert by_id["SKU-006"]["nominal_classification"] == "none" and by_id["SKU-006"]["reasons"] == []


@pytest.mark.parametrize("tier, expected", [
    ("top_riser", {"SKU-001", "SKU-008"}),
    ("winner", {"SKU-001", "SKU-002"}),
    ("banana", {"SKU-003", "SKU-005"}),
    ("archive_candidate", {"sku-004", "SKU-005"}),
    ("all", set(known.EXPECTED_FLAGS)),
])
def test_classification_matches_the_flag(api, tier, expected):
    assert set(all_ids(api, {"classification": tier})) == expected


@pytest.mark.parametrize("search, expected", [
    ("alpha", {"SKU-001", "SKU-007"}),
    ("ALPHA", {"SKU-001", "SKU-007"}),
    ("aLpHa tEe", {"SKU-001"}),
    ("sku-00", set(known.EXPECTED_FLAGS)),
    ("Sku-004", {"sku-004"}),
    ("%", {"SKU-003"}),
    ("_", {"SKU-003", "SKU-008"}),
    ("a_c", {"SKU-003"}),
    ("100%", {"SKU-003"}),
    ("nothing-like-this", set()),
])
def test_search_is_case_insensitive_and_literal(api, search, expected):
    assert set(all_ids(api, {"search": search})) == expected


@pytest.mark.parametrize("params, expected", [
    ([("product_type", "Tee")], {"SKU-001", "SKU-008"}),
    ([("product_type", "Tee"), ("product_type", "Mug")], {"SKU-001", "SKU-008", "sku-004"}),
    ([("vendor", "Crown"), ("is_active", "true")], {"SKU-006", "SKU-007", "SKU-008"}),
    ([("is_active", "false")], {"sku-004", "SKU-005"}),
    ([("launched_from", "2025-03-01")], {"SKU-001", "SKU-007", "SKU-008"}),
    ([("launched_from", "2024-01-01"), ("launched_to", "2024-06-01")], {"SKU-002", "sku-004", "SKU-006", "SKU-003"}),
    ([("tag", "color:red")], {"SKU-001", "SKU-003", "SKU-007"}),
    ([("tag", "color:red"), ("tag", "color:blue")], {"SKU-001", "SKU-002", "SKU-003", "SKU-007", "SKU-008"}),
    ([("tag", "color:red"), ("tag", "size:M")], {"SKU-001"}),
    ([("tag", "size:M"), ("tag", "size:S"), ("tag", "color:red")], {"SKU-001", "SKU-007"}),
    ([("tag", "gift")], {"SKU-006"}),
    ([("classification", "winner"), ("vendor", "Acme"), ("search", "beta")], {"SKU-002"}),
])
def test_filters(api, params, expected):
    assert set(ids(api.get("/api/performance-metrics", params=params + [("pageSize", "500")]))) == expected


@pytest.mark.parametrize("sort, order, expected", [
    ("aggregate_measurement_value", "desc", ["SKU-002", "SKU-001", "SKU-008", "SKU-006", "sku-004", "SKU-007",
                                             "SKU-003", "SKU-005"]),
    ("artifact_id", "asc", ["SKU-001", "SKU-002", "SKU-003", "SKU-005", "SKU-006", "SKU-007", "SKU-008", "sku-004"]),
    ("sales_last_30_days", "asc", ["SKU-003", "SKU-005", "SKU-006", "sku-004", "SKU-007", "SKU-008", "SKU-001",
                                   "SKU-002"]),
    # Tiers by precedence, not by key text; ties by artifact_id in the same direction.
    ("nominal_classification", "asc", ["SKU-001", "SKU-008", "SKU-002", "SKU-003", "SKU-005", "sku-004", "SKU-006",
                                       "SKU-007"]),
    ("nominal_classification", "desc", ["SKU-007", "SKU-006", "sku-004", "SKU-005", "SKU-003", "SKU-002", "SKU-008",
                                        "SKU-001"]),
])
def test_sort(api, sort, order, expected):
    assert all_ids(api, {"sort": sort, "order": order}) == expected


def test_one_row_and_404(api):
    row = api.get("/api/performance-metrics/SKU-005").json()
    assert row["classifications"] == ["banana", "archive_candidate"]
    assert row["is_banana"] and row["is_archive"]
    assert_error(api.get("/api/performance-metrics/NOPE"), 404, "not_found")


def test_summary_equals_list_totals_under_the_same_filters(api):
    assert api.get("/api/performance-metrics/stats/summary").json() == known.SUMMARY
    for params in ([], [("vendor", "Acme")], [("tag", "color:red")], [("is_active", "true"), ("search", "a")]):
        summary = api.get("/api/performance-metrics/stats/summary", params=params).json()
        listed = api.get("/api/performance-metrics", params=params + [("pageSize", "500")]).json()
        assert summary["total_artifacts"] == listed["total"]
        assert summary["aggregate_measurement_total"] == sum(i["aggregate_measurement_value"] for i in listed["items"])
        assert summary["sales_last_30_days"] == sum(i["sales_last_30_days"] for i in listed["items"])
        for tier, key in (("top_riser", "top_risers"), ("winner", "winners"), ("banana", "bananas"),
                          ("archive_candidate", "archive_candidates")):
            tier_total = api.get("/api/performance-metrics", params=params + [("classification", tier)]).json()["total"]
            assert summary[key] == tier_total, (params, tier)


def test_facets_count_under_other_filters(api):
    body = api.get("/api/performance-metrics/facets", params=[("vendor", "Acme"), ("tag", "color:red")]).json()
    # vendor facet ignores the vendor filter (other vendors stay visible), keeps the tag filter
    assert {v["value"]: v["count"] for v in body["vendors"]} == {"Acme": 1, "Bolt": 1, "Crown": 1}
    # the color category ignores color tags but keeps vendor=Acme
    colors = next(c for c in body["tags"] if c["category"] == "color")
    assert {v["tag"]: v["count"] for v in colors["values"]} == {"color:red": 1, "color:blue": 1}
    assert {v["value"]: v["count"] for v in body["product_types"]} == {"Tee": 1}
    assert body["total"] == 1
    unfiltered = api.get("/api/performance-metrics/facets").json()
    plain = next(c for c in unfiltered["tags"] if c["category"] == "")
    assert plain["values"] == [{"value": "gift", "tag": "gift", "count": 1}]
    assert {c["value"]: c["count"] for c in unfiltered["classifications"]} == {
        "top_riser": 2, "winner": 2, "banana": 2, "archive_candidate": 2}


def test_schema_lists_the_declarative_table(api):
    body = api.get("/api/performance-metrics/schema").json()
    assert [f["param"] for f in body["filters"]] == ["classification", "search", "product_type", "vendor", "tag",
                                                     "launched_from", "launched_to", "is_active"]
    assert "aggregate_measurement_value" in [s["param"] for s in body["sorts"]]
    assert all("?" in f["sql"] or f["kind"] == "choice" for f in body["filters"])
    spec = api.app.openapi()["paths"]["/api/performance-metrics"]["get"]["parameters"]
    documented = {p["name"] for p in spec}
    # changed_since: the list's own parameter (tier history), not one of the shared filters
    assert {f["param"] for f in body["filters"]} | {"sort", "order", "page", "pageSize", "changed_since"} == documented


def test_export_csv_streams_every_matching_row(api):
    response = api.get("/api/performance-metrics/export", params={"format": "csv", "classification": "banana"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["artifact_id"] for r in rows] == ["SKU-003", "SKU-005"]
    assert rows[0]["tags"] == "color:red" and rows[0]["is_banana"] == "true"
    empty = api.get("/api/performance-metrics/export", params={"search": "no such product"})
    assert empty.status_code == 200 and empty.text.count("\n") == 1 and empty.text.startswith('"artifact_id"')


def test_export_file_is_named_after_the_view_and_date(api):
    as_of = api.get("/api/performance-metrics", params={"pageSize": 1}).json()["items"][0]["as_of"]
    for params, name in (({}, f"all-products-{as_of}.csv"), ({"classification": "banana"}, f"bananas-{as_of}.csv"),
                         ({"classification": "top_riser", "vendor": "Acme"}, f"top-risers-filtered-{as_of}.csv"),
                         ({"format": "parquet", "search": "a"}, f"all-products-filtered-{as_of}.parquet")):
        response = api.get("/api/performance-metrics/export", params=params)
        assert response.headers["content-disposition"] == f'attachment; filename="{name}"', params


def test_schema_says_the_default_order_and_the_store(api):
    body = api.get("/api/performance-metrics/schema").json()
    assert body["default_sort"][:2] == [{"param": "nominal_classification", "order": "asc"},
                                        {"param": "aggregate_measurement_value", "order": "desc"}]
    assert body["store"] == {"timezone": "UTC", "shopify_product_url": None}


def test_schema_links_a_shopify_store_to_its_admin(tmp_path):
    settings = make_settings(tmp_path / "data", sync_source="shopify", shopify_shop="my-store.myshopify.com")
    app, client = client_for(settings)
    try:
        token = make_tokens(settings)["viewer"]
        store = client.get("/api/performance-metrics/schema", headers=bearer(token)).json()["store"]
        assert store["shopify_product_url"] == "https://my-store.myshopify.com/admin/products?query="
    finally:
        app.state.engine.stop()


def test_export_parquet_all_rows(api):
    response = api.get("/api/performance-metrics/export", params={"format": "parquet"})
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column("artifact_id").to_pylist() == known.DEFAULT_ORDER
    tags = dict(zip(table.column("artifact_id").to_pylist(), table.column("tags").to_pylist()))
    assert tags["SKU-002"] == ["color:blue", "size:L"]
